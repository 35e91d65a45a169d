// dataset_test.cpp — formats, loss masks, errors with file:line, seeded split, batching and resume.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "engine/dataset.h"
#include "engine/error.h"
#include "fake_tokenizer.h"

using namespace engine;
namespace fs = std::filesystem;

namespace {

class DatasetTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("latent_dataset_" + std::to_string(::getpid()) + "_" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path write(const std::string& name, const std::string& text) {
        fs::path p = dir_ / name;
        std::ofstream(p, std::ios::binary) << text;
        return p;
    }
    std::string error_of(const fs::path& p, DatasetOptions opt = {}) {
        try {
            load_dataset(p, tok_, opt);
        } catch (const Error& e) {
            return e.message();
        }
        return "no error";
    }
    // The text of the trained tokens of an example (the loss targets), in order.
    std::string trained_text(const TrainExample& ex) {
        std::vector<int32_t> ids;
        for (size_t i = 0; i < ex.tokens.size(); ++i)
            if (ex.trained[i]) ids.push_back(ex.tokens[i]);
        return tok_.decode(ids, false);
    }
    fs::path dir_;
    ByteTokenizer tok_;
};

}  // namespace

TEST_F(DatasetTest, ChatJsonlTrainsOnAssistantTurnsOnly) {
    auto p = write("chat.jsonl",
                   R"({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Ciao"}]})"
                   "\n");
    DatasetOptions opt;
    opt.validation_fraction = 0;
    Dataset ds = load_dataset(p, tok_, opt);
    ASSERT_EQ(ds.train.size(), 1u);
    const TrainExample& ex = ds.train[0];
    EXPECT_EQ(tok_.decode(ex.tokens, false),
              "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
              "Hello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\nCiao<|im_end|>\n");
    EXPECT_EQ(trained_text(ex), "Hello!<|im_end|>\nCiao<|im_end|>\n");
    EXPECT_EQ(ex.source, "chat.jsonl:1");
    EXPECT_EQ(ds.stats.trained_tokens, int64_t(trained_text(ex).size()) - 2 * 9);  // each <|im_end|> is 1 token
}

TEST_F(DatasetTest, AlpacaAndCsvBecomeConversations) {
    auto a = write("a.jsonl", R"({"instruction": "Add", "input": "2 and 3", "output": "5"})" "\n\n"
                              R"({"instruction": "Name a colour", "output": "Blue"})" "\n");
    DatasetOptions opt;
    opt.validation_fraction = 0;
    Dataset ds = load_dataset(a, tok_, opt);
    ASSERT_EQ(ds.train.size(), 2u);
    std::set<std::string> texts;
    for (const auto& ex : ds.train) texts.insert(tok_.decode(ex.tokens, false));
    EXPECT_TRUE(texts.count("<|im_start|>user\nAdd\n\n2 and 3<|im_end|>\n<|im_start|>assistant\n5<|im_end|>\n"));
    auto c = write("c.csv", "question,answer\n\"What is 2+2?\",4\n");
    opt.csv_prompt_column = "question";
    opt.csv_response_column = "answer";
    opt.system_prompt = "S";
    ds = load_dataset(c, tok_, opt);
    ASSERT_EQ(ds.train.size(), 1u);
    EXPECT_EQ(tok_.decode(ds.train[0].tokens, false),
              "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n");
    EXPECT_EQ(trained_text(ds.train[0]), "4<|im_end|>\n");
}

TEST_F(DatasetTest, PlainTextIsTrainedEverywhereAndChunked) {
    auto p = write("book.txt", std::string(100, 'x'));
    DatasetOptions opt;
    opt.validation_fraction = 0.25;
    opt.text_chunk_tokens = 17;
    Dataset ds = load_dataset(p, tok_, opt);
    // BOS + 100 bytes + EOS = 102 tokens -> 6 chunks of 17
    EXPECT_EQ(ds.stats.records, 6);
    EXPECT_EQ(ds.stats.tokens, 102);
    EXPECT_EQ(ds.validation.size(), 2u);  // round(6 * 0.25) = 2 (1.5 rounds up)
    EXPECT_EQ(ds.train.size() + ds.validation.size(), 6u);
    EXPECT_EQ(ds.stats.trained_tokens, 102);
}

TEST_F(DatasetTest, MalformedRecordsNameFileAndLine) {
    auto bad_json = write("d.jsonl", R"({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})" "\n\n{oops\n");
    EXPECT_NE(error_of(bad_json).find("d.jsonl:3: invalid JSON"), std::string::npos) << error_of(bad_json);
    auto overflow = write("o.jsonl", "{\"messages\": 1e999}\n");
    EXPECT_NE(error_of(overflow).find("o.jsonl:1: invalid JSON"), std::string::npos) << error_of(overflow);
    auto no_assistant = write("e.jsonl", R"({"messages": [{"role": "user", "content": "a"}]})" "\n");
    EXPECT_NE(error_of(no_assistant).find("e.jsonl:1: the conversation has no assistant message"), std::string::npos);
    auto bad_role = write("f.jsonl", R"({"messages": [{"role": "robot", "content": "a"}, {"role": "assistant", "content": "b"}]})" "\n");
    EXPECT_NE(error_of(bad_role).find("f.jsonl:1: messages[0] has role \"robot\""), std::string::npos);
    auto missing = write("g.jsonl", R"({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})" "\n"
                                    R"({"text": "x"})" "\n");
    EXPECT_NE(error_of(missing).find("g.jsonl:2: missing \"messages\""), std::string::npos);
    auto alpaca = write("h.jsonl", R"({"instruction": "a", "output": ""})" "\n");
    EXPECT_NE(error_of(alpaca).find("h.jsonl:1: \"output\" is empty"), std::string::npos);
    auto csv = write("i.csv", "prompt,response\nq,\n");
    EXPECT_NE(error_of(csv).find("i.csv:2: the \"response\" cell is empty"), std::string::npos);
    auto csv_cols = write("j.csv", "p,r\nq,a\n");
    EXPECT_NE(error_of(csv_cols).find("needs columns \"prompt\" and \"response\""), std::string::npos);
    EXPECT_NE(error_of(dir_ / "absent.jsonl").find("no such file"), std::string::npos);
    auto unknown = write("k.jsonl", R"({"foo": 1})" "\n");
    EXPECT_NE(error_of(unknown).find("k.jsonl:1: cannot tell the format"), std::string::npos);
}

TEST_F(DatasetTest, SplitIsSeededAndComplete) {
    std::string text;
    for (int i = 0; i < 40; ++i)
        text += R"({"instruction": "q)" + std::to_string(i) + R"(", "output": "a"})" "\n";
    auto p = write("s.jsonl", text);
    DatasetOptions opt;
    opt.validation_fraction = 0.1;
    auto sources = [](const std::vector<TrainExample>& v) {
        std::set<std::string> s;
        for (const auto& e : v) s.insert(e.source);
        return s;
    };
    Dataset a = load_dataset(p, tok_, opt), b = load_dataset(p, tok_, opt);
    EXPECT_EQ(a.validation.size(), 4u);
    EXPECT_EQ(sources(a.validation), sources(b.validation));
    opt.seed = 99;
    Dataset c = load_dataset(p, tok_, opt);
    EXPECT_NE(sources(a.validation), sources(c.validation));
    std::set<std::string> all = sources(a.train);
    for (const auto& s : sources(a.validation)) EXPECT_TRUE(all.insert(s).second) << "in both splits: " << s;
    EXPECT_EQ(all.size(), 40u);
}

TEST(BatchIterator, PackedRowsPredictTheNextTrainedToken) {
    std::vector<TrainExample> ex(3);
    for (int e = 0; e < 3; ++e)
        for (int i = 0; i < 10; ++i) {
            ex[size_t(e)].tokens.push_back(100 * (e + 1) + i);
            ex[size_t(e)].trained.push_back(i >= 5);  // second half of each example is trained
        }
    BatchIterator it(ex, 2, 4, /*packing=*/true, 7);
    TokenBatch b;
    std::vector<int32_t> inputs, targets;
    for (int k = 0; k < 3; ++k) {  // 3 batches x 2 rows x 4 = 24 positions of the 30-token stream
        it.next(b);
        inputs.insert(inputs.end(), b.inputs.begin(), b.inputs.end());
        targets.insert(targets.end(), b.targets.begin(), b.targets.end());
    }
    for (size_t i = 0; i + 1 < inputs.size(); ++i) {
        const int32_t next = inputs[i + 1];
        if (targets[i] != kIgnoreTarget) {
            EXPECT_EQ(targets[i], next) << i;        // the target is the next token of the stream
            EXPECT_GE(next % 100, 5) << i;          // and it is in a trained half
        } else {
            EXPECT_TRUE(next % 100 < 5) << i;        // untrained (or an example's first token)
        }
    }
    EXPECT_EQ(it.position().epoch, 0);
    it.next(b);  // 24 + 8 + 1 > 30: wraps into epoch 1
    EXPECT_EQ(it.position().epoch, 1);
}

TEST(BatchIterator, ResumeFromPositionRepeatsTheSameBatches) {
    std::vector<TrainExample> ex(7);
    for (int e = 0; e < 7; ++e)
        for (int i = 0; i < 5 + e; ++i) {
            ex[size_t(e)].tokens.push_back(e * 50 + i);
            ex[size_t(e)].trained.push_back(1);
        }
    for (bool packing : {true, false}) {
        BatchIterator full(ex, 2, 6, packing, 42);
        TokenBatch b;
        for (int k = 0; k < 5; ++k) full.next(b);
        BatchIterator::Position saved = full.position();
        std::vector<TokenBatch> expected(6);
        for (auto& e : expected) full.next(e);
        BatchIterator resumed(ex, 2, 6, packing, 42);
        resumed.set_position(saved);
        for (auto& e : expected) {
            resumed.next(b);
            EXPECT_EQ(b.inputs, e.inputs) << "packing=" << packing;
            EXPECT_EQ(b.targets, e.targets) << "packing=" << packing;
        }
    }
}

TEST(BatchIterator, UnpackedRowsTruncateAndPad) {
    std::vector<TrainExample> ex(2);
    ex[0].tokens = {1, 2, 3};
    ex[0].trained = {0, 1, 1};
    ex[1].tokens = {5, 6, 7, 8, 9, 10, 11, 12};
    ex[1].trained = std::vector<uint8_t>(8, 1);
    BatchIterator it(ex, 2, 4, /*packing=*/false, 3, /*pad_id=*/0);
    TokenBatch b;
    it.next(b);
    EXPECT_EQ(it.truncated(), 1);
    for (int r = 0; r < 2; ++r) {
        const int32_t* in = b.inputs.data() + r * 4;
        const int32_t* tg = b.targets.data() + r * 4;
        if (in[0] == 1) {
            EXPECT_EQ(std::vector<int32_t>(tg, tg + 4), (std::vector<int32_t>{2, 3, kIgnoreTarget, kIgnoreTarget}));
            EXPECT_EQ(in[2], 0);
        } else {
            EXPECT_EQ(std::vector<int32_t>(in, in + 4), (std::vector<int32_t>{5, 6, 7, 8}));
            EXPECT_EQ(std::vector<int32_t>(tg, tg + 4), (std::vector<int32_t>{6, 7, 8, 9}));
        }
    }
    EXPECT_EQ(b.target_count(), 6);
}
