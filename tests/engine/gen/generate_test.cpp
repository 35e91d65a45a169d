// generate_test.cpp — every stop reason, cancel, stop strings across tokens, UTF-8 streaming,
// context policies and prefix reuse, on the deterministic fake model.
#include <gtest/gtest.h>

#include "fake_model.h"

using namespace gen_test;

namespace {

enum : int32_t { kEosId = 0, kA = 1, kB = 2, kSpace = 3, kST = 4, kOP = 5, kC3 = 6, kA9 = 7, kSpecial = 8,
                 kS = 9, kTOP = 10, kInner = 11 };

FakeTokenizer make_tokenizer() {
    return FakeTokenizer({"<eos>", "a", "b", " ", "ST", "OP", "\xC3", "\xA9", "<|x|>", "S", "TOP", "xSTOPy"},
                         {kEosId, kSpecial}, {kEosId});
}

GenerateOptions greedy(int max_tokens) {
    GenerateOptions o;
    o.sampling.temperature = 0;
    o.max_tokens = max_tokens;
    return o;
}

bool valid_utf8(const std::string& s) {
    size_t i = 0;
    while (i < s.size()) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (n == 0 || i + n > s.size()) return false;
        for (size_t k = 1; k < n; ++k)
            if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
        i += n;
    }
    return true;
}

struct Run {
    GenerateResult result;
    std::vector<TokenEvent> events;
};

Run run(FakeModel& model, Session& session, const FakeTokenizer& tok, std::vector<int32_t> prompt,
        const GenerateOptions& opt, int cancel_at = -1) {
    Run r;
    r.result = generate(session, tok, prompt, opt, [&](const TokenEvent& ev) {
        r.events.push_back(ev);
        return ev.index != cancel_at;
    });
    (void)model;
    return r;
}

std::string joined(const std::vector<TokenEvent>& events) {
    std::string s;
    for (const auto& e : events) s += e.text;
    return s;
}

}  // namespace

TEST(Generate, StopsAtMaxTokensAndRunsOnlyWhatIsNeeded) {
    FakeModel model(12);
    model.script = {kA, kB, kSpace, kA, kB, kA, kA};
    model.script_from = 2;  // prompt of 3 tokens: first prediction after position 2
    Session s(model, 64);
    auto tok = make_tokenizer();
    auto r = run(model, s, tok, {kB, kB, kB}, greedy(5));
    EXPECT_EQ(r.result.stop, StopReason::kMaxTokens);
    EXPECT_EQ(r.result.tokens, (std::vector<int32_t>{kA, kB, kSpace, kA, kB}));
    EXPECT_EQ(r.result.text, "ab ab");
    EXPECT_EQ(joined(r.events), r.result.text);
    ASSERT_EQ(r.events.size(), 5u);
    for (size_t i = 0; i < r.events.size(); ++i) {
        EXPECT_EQ(r.events[i].index, int64_t(i));
        EXPECT_EQ(r.events[i].token, r.result.tokens[i]);
    }
    // 1 prefill of 3 tokens + 4 single-token decodes: the 5th token is never run.
    ASSERT_EQ(model.calls.size(), 5u);
    EXPECT_EQ(model.calls[0].tokens.size(), 3u);
    for (size_t i = 1; i < 5; ++i) {
        EXPECT_EQ(model.calls[i].tokens, std::vector<int32_t>{r.result.tokens[i - 1]});
        EXPECT_EQ(model.calls[i].start, int64_t(2 + i));
    }
    EXPECT_EQ(r.result.throughput.prefill_tokens, 3);
    EXPECT_EQ(r.result.throughput.decode_tokens, 4);
}

TEST(Generate, StopsOnEos) {
    FakeModel model(12);
    model.script = {kA, kB, kEosId, kA};
    Session s(model, 64);
    auto tok = make_tokenizer();
    auto r = run(model, s, tok, {kB}, greedy(50));
    EXPECT_EQ(r.result.stop, StopReason::kEos);
    EXPECT_EQ(r.result.tokens, (std::vector<int32_t>{kA, kB, kEosId}));
    EXPECT_EQ(r.result.text, "ab");
    ASSERT_EQ(r.events.size(), 3u);
    EXPECT_EQ(r.events[2].token, kEosId);
    EXPECT_EQ(r.events[2].text, "");

    // stop_on_eos = false: generation runs on to max_tokens and the EOS text is not shown.
    FakeModel model2(12);
    model2.script = {kA, kEosId, kB};
    Session s2(model2, 64);
    GenerateOptions o = greedy(3);
    o.stop_on_eos = false;
    auto r2 = run(model2, s2, tok, {kB}, o);
    EXPECT_EQ(r2.result.stop, StopReason::kMaxTokens);
    EXPECT_EQ(r2.result.text, "ab");
}

TEST(Generate, EosFromModelConfigCounts) {
    FakeModel model(12);
    model.script = {kA, kB};
    Session s(model, 64);
    FakeTokenizer tok({"<eos>", "a", "b"}, {0}, {});  // tokenizer knows no EOS
    const_cast<ModelConfig&>(model.config()).eos_token_ids = {2};
    auto r = run(model, s, tok, {1}, greedy(10));
    EXPECT_EQ(r.result.stop, StopReason::kEos);
    EXPECT_EQ(r.result.text, "a");
}

TEST(Generate, StopStringAcrossTokensIsNotEmitted) {
    FakeModel model(12);
    model.script = {kA, kST, kOP, kB};
    Session s(model, 64);
    auto tok = make_tokenizer();
    GenerateOptions o = greedy(20);
    o.stop_strings = {"STOP"};
    auto r = run(model, s, tok, {kB}, o);
    EXPECT_EQ(r.result.stop, StopReason::kStopString);
    EXPECT_EQ(r.result.text, "a");
    EXPECT_EQ(joined(r.events), "a");
    ASSERT_EQ(r.events.size(), 3u);
    EXPECT_EQ(r.events[1].text, "");  // "ST" held back: it could start "STOP"
    EXPECT_EQ(r.result.tokens.back(), kOP);

    // split differently: "S" + "TOP"
    FakeModel m2(12);
    m2.script = {kA, kS, kTOP, kB};
    Session s2(m2, 64);
    auto r2 = run(m2, s2, tok, {kB}, o);
    EXPECT_EQ(r2.result.stop, StopReason::kStopString);
    EXPECT_EQ(r2.result.text, "a");

    // inside one token: "xSTOPy" emits only "x"
    FakeModel m3(12);
    m3.script = {kA, kInner, kB};
    Session s3(m3, 64);
    auto r3 = run(m3, s3, tok, {kB}, o);
    EXPECT_EQ(r3.result.stop, StopReason::kStopString);
    EXPECT_EQ(r3.result.text, "ax");
}

TEST(Generate, HeldBackTextIsReleasedWhenNoStopFollows) {
    FakeModel model(12);
    model.script = {kA, kST, kB, kST};
    Session s(model, 64);
    auto tok = make_tokenizer();
    GenerateOptions o = greedy(4);
    o.stop_strings = {"STOP", "never"};
    auto r = run(model, s, tok, {kB}, o);
    EXPECT_EQ(r.result.stop, StopReason::kMaxTokens);
    EXPECT_EQ(r.result.text, "aSTbST");
    ASSERT_EQ(r.events.size(), 4u);
    EXPECT_EQ(r.events[1].text, "");
    EXPECT_EQ(r.events[2].text, "STb");
    EXPECT_EQ(r.events[3].text, "ST");  // last event flushes what was held back
}

TEST(Generate, StreamsWholeUtf8CharactersOnly) {
    FakeModel model(12);
    model.script = {kA, kC3, kA9, kSpecial, kB};
    Session s(model, 64);
    auto tok = make_tokenizer();
    auto r = run(model, s, tok, {kB}, greedy(5));
    EXPECT_EQ(r.result.text, "a\xC3\xA9" "b");
    for (const auto& e : r.events) EXPECT_TRUE(valid_utf8(e.text)) << "event " << e.index;
    EXPECT_EQ(r.events[1].text, "");
    EXPECT_EQ(r.events[2].text, "\xC3\xA9");
    EXPECT_EQ(r.events[3].text, "");  // special token: skipped in streamed text
}

TEST(Generate, ContextPolicyError) {
    FakeModel model(12);
    Session s(model, 8);
    auto tok = make_tokenizer();
    GenerateOptions o = greedy(10);
    o.context_policy = ContextPolicy::kError;
    try {
        run(model, s, tok, {kA, kA, kA}, o);
        FAIL() << "3 + 10 tokens accepted into an 8-token window";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kContextFull);
        for (const char* n : {"3", "10", "13", "8"}) EXPECT_NE(e.message().find(n), std::string::npos) << n;
    }
    EXPECT_TRUE(model.calls.empty());  // nothing was run
    o.max_tokens = 5;
    auto r = run(model, s, tok, {kA, kA, kA}, o);
    EXPECT_EQ(r.result.tokens.size(), 5u);
}

TEST(Generate, ContextPolicyStopAtLimit) {
    FakeModel model(12);
    model.fallback = kA;
    Session s(model, 6);
    auto tok = make_tokenizer();
    GenerateOptions o = greedy(100);
    o.context_policy = ContextPolicy::kStopAtLimit;
    auto r = run(model, s, tok, {kB, kB, kB}, o);
    EXPECT_EQ(r.result.stop, StopReason::kContextFull);
    // 3 prompt tokens + 3 generated fill the 6-token cache; the 4th generated token is sampled from
    // the last logits but cannot be run.
    EXPECT_EQ(r.result.tokens.size(), 4u);
    EXPECT_EQ(s.kv_stats().tokens, 6);
    // a prompt larger than the window is an error under either policy
    std::vector<int32_t> big(7, kA);
    EXPECT_THROW(generate(s, tok, big, o), Error);
}

TEST(Generate, CallbackCancels) {
    FakeModel model(12);
    model.fallback = kA;
    Session s(model, 64);
    auto tok = make_tokenizer();
    auto r = run(model, s, tok, {kB}, greedy(50), /*cancel_at=*/2);
    EXPECT_EQ(r.result.stop, StopReason::kCancelled);
    EXPECT_EQ(r.result.tokens.size(), 3u);
    EXPECT_EQ(r.events.size(), 3u);
    EXPECT_EQ(model.calls.size(), 3u);  // prefill + 2 decodes; nothing after the cancel
}

TEST(Generate, NextTurnReusesThePrefix) {
    FakeModel model(12);
    model.fallback = kA;
    Session s(model, 64);
    auto tok = make_tokenizer();
    std::vector<int32_t> p1 = {kB, kB, kB, kB};
    auto r1 = run(model, s, tok, p1, greedy(3));
    const size_t calls_after_1 = model.calls.size();
    // next turn = previous prompt + the answer + 2 new tokens: only the last answer token (never
    // run) and the 2 new ones are prefilled.
    std::vector<int32_t> p2 = p1;
    p2.insert(p2.end(), r1.result.tokens.begin(), r1.result.tokens.end());
    p2.push_back(kSpace);
    p2.push_back(kB);
    run(model, s, tok, p2, greedy(1));
    ASSERT_EQ(model.calls.size(), calls_after_1 + 1);
    EXPECT_EQ(model.calls.back().start, 6);
    EXPECT_EQ(model.calls.back().tokens, (std::vector<int32_t>{kA, kSpace, kB}));
}

TEST(Generate, LogitsHookSeesEveryStep) {
    FakeModel model(12);
    model.script = {kA, kB, kA};
    Session s(model, 64);
    auto tok = make_tokenizer();
    GenerateOptions o = greedy(3);
    std::vector<int32_t> argmaxes;
    o.on_logits = [&](std::span<const float> l) {
        EXPECT_EQ(l.size(), 12u);
        argmaxes.push_back(int32_t(std::max_element(l.begin(), l.end()) - l.begin()));
    };
    auto r = run(model, s, tok, {kB}, o);
    EXPECT_EQ(argmaxes, r.result.tokens);
}

TEST(Generate, SeededSamplingIsDeterministic) {
    auto tok = make_tokenizer();
    auto once = [&](uint64_t seed) {
        FakeModel model(12);
        model.fallback = kA;
        Session s(model, 64);
        GenerateOptions o;
        o.max_tokens = 30;
        o.stop_on_eos = false;
        o.sampling.temperature = 5.0;  // flat enough that other tokens get drawn
        o.sampling.top_k = 0;
        o.sampling.top_p = 1.0;
        o.sampling.min_p = 0.0;
        o.sampling.seed = seed;
        return generate(s, tok, std::vector<int32_t>{kB}, o).tokens;
    };
    EXPECT_EQ(once(9), once(9));
    EXPECT_NE(once(9), once(10));
}

TEST(Generate, RejectsEmptyPrompt) {
    FakeModel model(12);
    Session s(model, 8);
    auto tok = make_tokenizer();
    EXPECT_THROW(generate(s, tok, std::vector<int32_t>{}, greedy(1)), Error);
}
