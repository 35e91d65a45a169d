// tokenizer_format_test.cpp — the tokenizer.json features on small hand-built files: Split behaviours
// and invert, Digits, ByteLevel options, merges as strings and pairs, ignore_merges, added tokens with
// lstrip/rstrip, tokenizer_config.json forms, streaming decode, and errors for malformed files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <atomic>
#include <random>
#include <thread>

#include "engine/error.h"
#include "engine/tokenizer.h"
#include "text/pre_tokenizer.h"
#include "text/utf8.h"

using engine::text::Json;
namespace fs = std::filesystem;

namespace {

// A byte-level BPE file: all 256 byte symbols, then the given merges (as "a b" strings) with their
// results added to the vocab in order.
Json byte_level_file(const std::vector<std::pair<std::string, std::string>>& merges, bool merges_as_pairs = false) {
    engine::text::ByteAlphabet alpha;
    Json vocab = Json::object();
    int id = 0;
    for (int b = 0; b < 256; ++b) vocab[alpha.encode_byte(static_cast<uint8_t>(b))] = id++;
    Json m = Json::array();
    for (const auto& [a, b] : merges) {
        if (!vocab.contains(a + b)) vocab[a + b] = id++;
        if (merges_as_pairs) m.push_back(Json::array({a, b}));
        else m.push_back(a + " " + b);
    }
    return Json{{"version", "1.0"},
                {"added_tokens", Json::array()},
                {"normalizer", nullptr},
                {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
                {"post_processor", nullptr},
                {"decoder", {{"type", "ByteLevel"}}},
                {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", m}}}};
}

std::unique_ptr<engine::Tokenizer> load(const Json& j, const std::string& cfg = "") {
    return engine::Tokenizer::from_json_text(j.dump(), cfg, "test/tokenizer.json");
}

std::vector<std::string> split_all(const Json& pre, const std::string& text) {
    engine::text::ByteAlphabet alpha;
    auto p = engine::text::make_pre_tokenizer(pre, {"t.json", "pre_tokenizer"}, alpha);
    engine::text::PieceList pieces;
    pieces.views.push_back(text);
    engine::text::RegexScratch scratch;
    p->split(pieces, scratch);
    return {pieces.views.begin(), pieces.views.end()};
}

using V = std::vector<std::string>;

TEST(TokenizerFormat, SplitBehaviours) {
    // The Hugging Face documentation's example for Split on "-".
    auto split = [](const char* behavior, bool invert = false) {
        return split_all({{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", invert}},
                         "the-final--countdown");
    };
    EXPECT_EQ(split("Removed"), (V{"the", "final", "countdown"}));
    EXPECT_EQ(split("Isolated"), (V{"the", "-", "final", "-", "-", "countdown"}));
    EXPECT_EQ(split("MergedWithPrevious"), (V{"the-", "final-", "-", "countdown"}));
    EXPECT_EQ(split("MergedWithNext"), (V{"the", "-final", "-", "-countdown"}));
    EXPECT_EQ(split("Contiguous"), (V{"the", "-", "final", "--", "countdown"}));
    EXPECT_EQ(split("Removed", true), (V{"-", "-", "-"}));
    // A regex pattern with Unicode classes and lookahead (PCRE2).
    EXPECT_EQ(split_all({{"type", "Split"}, {"pattern", {{"Regex", "\\s+(?!\\S)|\\p{L}+"}}}, {"behavior", "Isolated"}},
                        "héllo  wörld"),
              (V{"héllo", " ", " ", "wörld"}));
}

TEST(TokenizerFormat, DigitsAndByteLevelOptions) {
    EXPECT_EQ(split_all({{"type", "Digits"}, {"individual_digits", true}}, "a123b٣"), (V{"a", "1", "2", "3", "b", "٣"}));
    EXPECT_EQ(split_all({{"type", "Digits"}, {"individual_digits", false}}, "a123b45"), (V{"a", "123", "b", "45"}));
    EXPECT_EQ(split_all({{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}}, "hi there's"),
              (V{"Ġhi", "Ġthere", "'s"}));
    EXPECT_EQ(split_all({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}, "hi there\n"),
              (V{"hiĠthereĊ"}));
}

TEST(TokenizerFormat, MergesAsStringsAndPairsAndRankOrder) {
    const std::vector<std::pair<std::string, std::string>> merges = {{"a", "b"}, {"b", "b"}, {"ab", "b"}};
    auto t1 = load(byte_level_file(merges));
    auto t2 = load(byte_level_file(merges, true));
    const auto ids = t1->encode("abb");
    ASSERT_EQ(ids.size(), 1u);  // (a b) first -> ab, then (ab b) -> abb
    EXPECT_EQ(t1->id_to_token(ids[0]), "abb");
    EXPECT_EQ(t2->encode("abb abb"), t1->encode("abb abb"));
    // With (b b) ranked first the word ends as a + bb: there is no (a bb) merge.
    auto t3 = load(byte_level_file({{"b", "b"}, {"a", "b"}, {"ab", "b"}}));
    const auto ids3 = t3->encode("abb");
    ASSERT_EQ(ids3.size(), 2u);
    EXPECT_EQ(t3->id_to_token(ids3[0]), "a");
    EXPECT_EQ(t3->id_to_token(ids3[1]), "bb");
    EXPECT_EQ(t3->decode(ids3), "abb");
}

TEST(TokenizerFormat, IgnoreMergesTakesWholeWordsFromTheVocab) {
    Json j = byte_level_file({{"a", "b"}});
    j["model"]["vocab"]["abc"] = 300;
    EXPECT_EQ(load(j)->encode("abc").size(), 2u);  // ab + c
    j["model"]["ignore_merges"] = true;
    EXPECT_EQ(load(j)->encode("abc"), std::vector<int32_t>{300});
}

TEST(TokenizerFormat, AddedTokensLstripRstripSpecialAndConfig) {
    Json j = byte_level_file({});
    j["added_tokens"] = Json::array(
        {{{"id", 400}, {"content", "<s>"}, {"special", true}, {"lstrip", false}, {"rstrip", false}, {"normalized", false}},
         {{"id", 401}, {"content", "</s>"}, {"special", true}, {"normalized", false}},
         {{"id", 402}, {"content", "<mask>"}, {"special", true}, {"lstrip", true}, {"rstrip", true}, {"normalized", false}},
         {{"id", 403}, {"content", "<mask>x"}, {"special", false}, {"normalized", false}},
         {{"id", 404}, {"content", "hid"}, {"special", false}, {"normalized", true}}});
    const std::string cfg = R"({"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>",
        "add_bos_token": true, "add_eos_token": true, "model_max_length": 1e30,
        "chat_template": [{"name": "default", "template": "{{ x }}"}, {"name": "tool_use", "template": "T"}]})";
    auto t = load(j, cfg);
    EXPECT_EQ(t->vocab_size(), 405u);
    // Both "<mask>" and "<mask>x" are matched on the raw text (normalized=false): the longer one wins.
    // lstrip/rstrip swallow the spaces around <mask>; the longest token wins at the same position.
    const auto ids = t->encode("a  <mask>  b<mask>x");
    ASSERT_EQ(ids.size(), 4u);
    EXPECT_EQ(ids[0], *t->token_to_id("a"));
    EXPECT_EQ(ids[1], 402);
    EXPECT_EQ(ids[2], *t->token_to_id("b"));
    EXPECT_EQ(ids[3], 403);
    EXPECT_EQ(t->encode("hid"), std::vector<int32_t>{404});  // normalized added token, matched after normalizing
    EXPECT_EQ(t->encode("hi", true), (std::vector<int32_t>{400, *t->token_to_id("h"), *t->token_to_id("i"), 401}));
    EXPECT_EQ(t->decode(t->encode("x<s>y", true)), "<s>x<s>y</s>");
    EXPECT_EQ(t->decode(t->encode("x<s>y", true), true), "xy");
    EXPECT_TRUE(t->is_special(402));
    EXPECT_FALSE(t->is_special(403));
    EXPECT_EQ(t->bos_id(), 400);
    EXPECT_EQ(t->eos_ids(), std::vector<int32_t>{401});
    ASSERT_EQ(t->config().chat_templates.size(), 2u);
    EXPECT_EQ(t->config().chat_templates[1].name, "tool_use");
    EXPECT_EQ(t->config().chat_templates[1].source, "T");
    EXPECT_EQ(t->config().model_max_length, std::numeric_limits<int64_t>::max());
}

TEST(TokenizerFormat, TemplateProcessingAddsBos) {
    Json j = byte_level_file({});
    j["added_tokens"] = Json::array({{{"id", 300}, {"content", "<bos>"}, {"special", true}}});
    j["post_processor"] = {{"type", "Sequence"},
                           {"processors",
                            Json::array({{{"type", "ByteLevel"}},
                                         {{"type", "TemplateProcessing"},
                                          {"single", Json::array({{{"SpecialToken", {{"id", "<bos>"}, {"type_id", 0}}}},
                                                                  {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
                                          {"special_tokens", {{"<bos>", {{"id", "<bos>"}, {"ids", {300}}, {"tokens", {"<bos>"}}}}}}}})}};
    auto t = load(j);
    EXPECT_EQ(t->encode("a", true), (std::vector<int32_t>{300, *t->token_to_id("a")}));
    EXPECT_EQ(t->encode("a", false), (std::vector<int32_t>{*t->token_to_id("a")}));
}

TEST(TokenizerFormat, NfcNormalizerUsesIcu) {
    Json j = byte_level_file({});
    j["normalizer"] = {{"type", "NFC"}};
    auto t = load(j);
    EXPECT_EQ(t->decode(t->encode("Cafe\xCC\x81")), "Caf\xC3\xA9");  // e + U+0301 -> é
    j["normalizer"] = {{"type", "Sequence"}, {"normalizers", Json::array({{{"type", "NFKC"}}, {{"type", "Lowercase"}}})}};
    EXPECT_EQ(load(j)->decode(load(j)->encode("ＡＢＣ Ω")), "abc ω");
}

TEST(TokenizerFormat, StreamDecoderHoldsBackSplitCharacters) {
    auto t = load(byte_level_file({}));  // no merges: one token per byte
    const std::string text = "a\xF0\x9F\x98\x80" "b\xE4\xB8\xAD";  // a😀b中
    const auto ids = t->encode(text);
    ASSERT_EQ(ids.size(), 9u);
    engine::StreamDecoder s(*t);
    std::vector<std::string> out;
    for (int32_t id : ids) out.push_back(s.push(id));
    EXPECT_EQ(out, (V{"a", "", "", "", "\xF0\x9F\x98\x80", "b", "", "", "\xE4\xB8\xAD"}));
    EXPECT_EQ(s.flush(), "");
    // An unfinished character at the end comes out as U+FFFD on flush; an impossible byte at once.
    engine::StreamDecoder s2(*t);
    EXPECT_EQ(s2.push(ids[1]), "");
    EXPECT_EQ(s2.flush(), "\xEF\xBF\xBD");
    EXPECT_EQ(s2.push(*t->token_to_id(engine::text::ByteAlphabet().encode_byte(0xFF))), "\xEF\xBF\xBD");
}

TEST(TokenizerFormat, InvalidUtf8IsReplacedLikeFromUtf8Lossy) {
    EXPECT_EQ(engine::text::utf8_lossy("a\x80" "b"), "a\xEF\xBF\xBD" "b");
    EXPECT_EQ(engine::text::utf8_lossy("\xE2\x82"), "\xEF\xBF\xBD");           // one maximal subpart
    EXPECT_EQ(engine::text::utf8_lossy("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong: two
    EXPECT_EQ(engine::text::utf8_lossy("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
    auto t = load(byte_level_file({}));
    EXPECT_EQ(t->decode(t->encode("x\xFFy")), "x\xEF\xBF\xBDy");
}

TEST(TokenizerFormat, ArbitraryBytesNeverCrash) {
    auto t = load(byte_level_file({{"a", "b"}, {"ab", "c"}, {"Ġ", "a"}}));
    std::mt19937 rng(1234);
    for (int iter = 0; iter < 3000; ++iter) {
        std::string s(rng() % 64, '\0');
        for (char& c : s) c = static_cast<char>(rng() % 4 == 0 ? 'a' + rng() % 3 : rng() % 256);
        const auto ids = t->encode(s, true);
        const std::string back = t->decode(ids);
        ASSERT_TRUE(engine::text::utf8_is_valid(back));
        ASSERT_EQ(back, engine::text::utf8_lossy(s));  // byte-level BPE loses nothing but invalid bytes
    }
}

TEST(TokenizerFormat, EncodeFromSeveralThreadsAtOnce) {
    auto t = load(byte_level_file({{"a", "b"}, {"ab", "c"}, {"Ġ", "a"}, {"c", "c"}}));
    std::vector<std::string> texts;
    for (int i = 0; i < 64; ++i) texts.push_back("abc " + std::to_string(i * 7919) + " ccab\n" + std::string(size_t(i), 'c'));
    std::vector<std::vector<int32_t>> expected;
    for (const auto& s : texts) expected.push_back(t->encode(s));
    std::atomic<int> mismatches{0};
    std::vector<std::thread> threads;
    for (int th = 0; th < 4; ++th)
        threads.emplace_back([&, th] {
            for (int rep = 0; rep < 50; ++rep)
                for (size_t i = 0; i < texts.size(); ++i) {
                    const size_t k = (i + size_t(th) * 13 + size_t(rep)) % texts.size();
                    if (t->encode(texts[k]) != expected[k]) ++mismatches;
                }
        });
    for (auto& th : threads) th.join();
    EXPECT_EQ(mismatches.load(), 0);
}

// ---- malformed files: Error(kBadFile) naming the field ----

void expect_error(const Json& j, engine::ErrorKind kind, const std::string& needle, const std::string& cfg = "") {
    try {
        engine::Tokenizer::from_json_text(j.is_string() ? j.get<std::string>() : j.dump(), cfg, "bad/tokenizer.json");
        ADD_FAILURE() << "expected an error mentioning '" << needle << "'";
    } catch (const engine::Error& e) {
        EXPECT_EQ(e.kind(), kind) << e.what();
        EXPECT_NE(e.message().find(needle), std::string::npos) << "message: " << e.message();
        EXPECT_NE(e.message().find("bad/tokenizer.json"), std::string::npos) << e.message();
    }
}

TEST(TokenizerFormat, MalformedFilesNameTheField) {
    using K = engine::ErrorKind;
    Json good = byte_level_file({{"a", "b"}});
    ASSERT_NO_THROW(load(good));
    expect_error(Json("{not json"), K::kBadFile, "not valid JSON");
    // A number too large for a double is nlohmann's out_of_range (406), not a parse_error (found by fuzzing).
    expect_error(Json("{\"x\": 1e66666}"), K::kBadFile, "not valid JSON");
    Json j = good; j.erase("model");
    expect_error(j, K::kBadFile, "'model' is missing");
    j = good; j["model"]["vocab"] = Json::array();
    expect_error(j, K::kBadFile, "'model.vocab' should be an object");
    j = good; j["model"]["vocab"]["zz"] = "seven";
    expect_error(j, K::kBadFile, "'model.vocab.zz' should be an integer");
    j = good; j["model"]["merges"].push_back("a nosuchtoken");
    expect_error(j, K::kBadFile, "'model.merges[1]': token 'nosuchtoken' is not in model.vocab");
    j = good; j["model"]["merges"].push_back(Json::array({"a"}));
    expect_error(j, K::kBadFile, "'model.merges[1]' should be");
    j = good; j["model"]["merges"] = "a b";
    expect_error(j, K::kBadFile, "'model.merges' should be an array");
    j = good; j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers",
        Json::array({{{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}}})}};
    expect_error(j, K::kBadFile, "'pre_tokenizer.pretokenizers[0].pattern.Regex': invalid regular expression");
    j["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"Regex", "a"}};
    j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Sideways";
    expect_error(j, K::kBadFile, "'pre_tokenizer.pretokenizers[0].behavior' is 'Sideways'");
    j = good; j["normalizer"] = {{"type", "Precompiled"}};
    expect_error(j, K::kUnsupported, "'normalizer.type' is 'Precompiled'");
    j = good; j["model"]["type"] = "Unigram";
    expect_error(j, K::kUnsupported, "'model.type' is 'Unigram'");
    j = good; j["added_tokens"] = Json::array({{{"id", "x"}, {"content", "<s>"}}});
    expect_error(j, K::kBadFile, "'added_tokens[0].id' should be an integer");
    expect_error(good, K::kBadFile, "'chat_template' should be a string or a list", R"({"chat_template": 5})");
    expect_error(good, K::kBadFile, "'bos_token' should be a string", R"({"bos_token": 5})");
    expect_error(good, K::kBadFile, "names special token '<nope>'", R"({"bos_token": "<nope>"})");
}

TEST(TokenizerFormat, FromPathReadsConfigAndChatTemplateJinja) {
    const fs::path dir = fs::temp_directory_path() / ("latent_tok_test_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::ofstream(dir / "tokenizer.json") << byte_level_file({}).dump();
    std::ofstream(dir / "tokenizer_config.json") << R"({"eos_token": "a", "chat_template": "old"})";
    std::ofstream(dir / "chat_template.jinja") << "{{ messages }}";
    auto t = engine::Tokenizer::from_path(dir);
    ASSERT_EQ(t->config().chat_templates.size(), 1u);
    EXPECT_EQ(t->config().chat_templates[0].source, "{{ messages }}");
    EXPECT_EQ(t->eos_ids(), std::vector<int32_t>{*t->token_to_id("a")});
    try {
        engine::Tokenizer::from_path(dir / "missing");
        ADD_FAILURE() << "expected kIo";
    } catch (const engine::Error& e) {
        EXPECT_EQ(e.kind(), engine::ErrorKind::kIo);
    }
    fs::remove_all(dir);
}

}  // namespace
