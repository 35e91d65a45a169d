// session_test.cpp — prefix reuse runs only the new tokens; append/reset/stats/throughput/expert load.
#include <gtest/gtest.h>

#include "fake_model.h"

using namespace gen_test;

TEST(Session, PrefixReuseRunsOnlyNewTokens) {
    FakeModel model(16);
    Session s(model, 64);
    std::vector<int32_t> turn1 = {1, 2, 3, 4};
    s.set_tokens(turn1);
    ASSERT_EQ(model.calls.size(), 1u);
    EXPECT_EQ(model.calls[0].start, 0);
    EXPECT_EQ(model.calls[0].tokens, turn1);

    // Next turn extends the conversation: only 5, 6 are run, starting at position 4.
    std::vector<int32_t> turn2 = {1, 2, 3, 4, 5, 6};
    s.set_tokens(turn2);
    ASSERT_EQ(model.calls.size(), 2u);
    EXPECT_EQ(model.calls[1].start, 4);
    EXPECT_EQ(model.calls[1].tokens, (std::vector<int32_t>{5, 6}));
    EXPECT_EQ(s.tokens(), turn2);

    // Diverging at index 2: the cache is cut to 2 tokens and 7, 8, 9 are run from position 2.
    std::vector<int32_t> edit = {1, 2, 7, 8, 9};
    s.set_tokens(edit);
    ASSERT_EQ(model.calls.size(), 3u);
    EXPECT_EQ(model.calls[2].start, 2);
    EXPECT_EQ(model.calls[2].tokens, (std::vector<int32_t>{7, 8, 9}));
    EXPECT_EQ(s.tokens(), edit);
    EXPECT_EQ(s.kv_stats().tokens, 5);

    // The same tokens again: nothing runs, the cached logits come back.
    s.set_tokens(edit);
    EXPECT_EQ(model.calls.size(), 3u);

    // A strict prefix of what is cached: the last token is re-run to get its logits.
    std::vector<int32_t> shorter = {1, 2, 7};
    s.set_tokens(shorter);
    ASSERT_EQ(model.calls.size(), 4u);
    EXPECT_EQ(model.calls[3].start, 2);
    EXPECT_EQ(model.calls[3].tokens, (std::vector<int32_t>{7}));
    EXPECT_EQ(s.tokens(), shorter);
}

TEST(Session, LogitsFollowTheLastToken) {
    FakeModel model(16);
    model.script = {5, 6, 7, 8, 9, 10};
    Session s(model, 32);
    std::vector<int32_t> p = {1, 1, 1};
    const auto& l = s.set_tokens(p);  // last position 2 -> script[2] = 7
    ASSERT_EQ(l.size(), 16u);
    EXPECT_EQ(std::max_element(l.begin(), l.end()) - l.begin(), 7);
    std::vector<int32_t> one = {2};
    const auto& l2 = s.append(one);  // position 3 -> 8
    EXPECT_EQ(std::max_element(l2.begin(), l2.end()) - l2.begin(), 8);
    EXPECT_EQ(model.calls.back().start, 3);
}

TEST(Session, ThroughputSplitsPrefillAndDecode) {
    FakeModel model(16);
    Session s(model, 32);
    std::vector<int32_t> p = {1, 2, 3, 4, 5};
    s.set_tokens(p);
    std::vector<int32_t> t = {6};
    s.append(t);
    s.append(t);
    EXPECT_EQ(s.throughput().prefill_tokens, 5);
    EXPECT_EQ(s.throughput().decode_tokens, 2);
    EXPECT_GE(s.throughput().prefill_seconds, 0.0);
    EXPECT_GE(s.throughput().decode_seconds, 0.0);
}

TEST(Session, ExpertLoadShapeAndReset) {
    FakeModel model(16);
    Session s(model, 32);
    EXPECT_EQ(s.expert_load().n_layers, 3);
    EXPECT_EQ(s.expert_load().n_experts, 4);
    std::vector<int32_t> p = {1, 2, 5};  // fake routes token t to expert t % 4 in layer 1
    ExpertLoad extra;
    s.set_tokens(p, &extra);
    EXPECT_EQ(s.expert_load().cumulative[1][1], 2);
    EXPECT_EQ(s.expert_load().cumulative[1][2], 1);
    EXPECT_EQ(extra.n_layers, 3);
    EXPECT_EQ(extra.last_step[1][1], 2);
    std::vector<int32_t> t = {3};
    s.append(t);
    EXPECT_EQ(s.expert_load().last_step[1][1], 0);  // last step = only token 3
    EXPECT_EQ(s.expert_load().last_step[1][3], 1);
    EXPECT_EQ(s.expert_load().cumulative[1][1], 2);

    s.reset();
    EXPECT_TRUE(s.tokens().empty());
    EXPECT_EQ(s.kv_stats().tokens, 0);
    EXPECT_EQ(s.expert_load().cumulative[1][1], 0);
    EXPECT_EQ(s.expert_load().n_layers, 3);
    EXPECT_EQ(s.throughput().prefill_tokens, 0);
    s.set_tokens(p);
    EXPECT_EQ(model.calls.back().start, 0);  // after reset everything is prefilled again
    EXPECT_EQ(model.calls.back().tokens, p);
}

TEST(Session, ContextFullIsAClearError) {
    FakeModel model(16);
    Session s(model, 4);
    EXPECT_EQ(s.context_tokens(), 4);
    std::vector<int32_t> p = {1, 2, 3, 4, 5};
    try {
        s.set_tokens(p);
        FAIL() << "5 tokens accepted into a 4-token window";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kContextFull);
        EXPECT_NE(e.message().find("5"), std::string::npos);
        EXPECT_NE(e.message().find("4"), std::string::npos);
    }
    std::vector<int32_t> four = {1, 2, 3, 4};
    s.set_tokens(four);
    std::vector<int32_t> one = {5};
    try {
        s.append(one);
        FAIL() << "append past the window accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kContextFull);
        EXPECT_NE(e.message().find("4 of 4"), std::string::npos) << e.message();
    }
    EXPECT_EQ(s.tokens(), four);
}

TEST(Session, FailedForwardLeavesACoherentSession) {
    FakeModel model(16);
    Session s(model, 16);
    std::vector<int32_t> p = {1, 2, 3};
    s.set_tokens(p);
    model.fail_next = true;
    std::vector<int32_t> more = {4, 5};
    EXPECT_THROW(s.append(more), Error);
    EXPECT_EQ(s.tokens(), p);
    EXPECT_EQ(s.kv_stats().tokens, 3);  // the half-written token was rolled back
    std::vector<int32_t> again = {1, 2, 3, 4};
    s.set_tokens(again);
    EXPECT_EQ(model.calls.back().start, 3);
    EXPECT_EQ(model.calls.back().tokens, (std::vector<int32_t>{4}));
}

TEST(Session, SeveralSessionsShareOneModel) {
    FakeModel model(16);
    Session a(model, 16), b(model, 16);
    std::vector<int32_t> pa = {1, 2, 3}, pb = {4, 5};
    a.set_tokens(pa);
    b.set_tokens(pb);
    EXPECT_EQ(a.tokens(), pa);
    EXPECT_EQ(b.tokens(), pb);
    EXPECT_EQ(a.kv_stats().tokens, 3);
    EXPECT_EQ(b.kv_stats().tokens, 2);
    EXPECT_EQ(&a.model(), &b.model());
}
