// bpe_trainer.cpp — byte-level BPE training with incremental pair counts; writes HF tokenizer.json.
#include "engine/bpe_trainer.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <queue>
#include <unordered_map>

#include "engine/error.h"
#include "text/added_tokens.h"
#include "text/pre_tokenizer.h"
#include "text/utf8.h"

namespace engine {

std::vector<std::string> deepseek_v3_split_patterns() {
    return {
        "\\p{N}{1,3}",
        "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
        "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
        "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
    };
}

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

nlohmann::ordered_json split_json(const std::vector<std::string>& patterns) {
    auto seq = nlohmann::ordered_json::array();
    for (const auto& p : patterns)
        seq.push_back({{"type", "Split"}, {"pattern", {{"Regex", p}}}, {"behavior", "Isolated"}, {"invert", false}});
    return seq;
}

}  // namespace

struct BpeTrainer::Impl {
    BpeTrainerOptions opt;
    text::ByteAlphabet alphabet;
    std::unique_ptr<text::PreTokenizer> splitter;  // the Split stages only: pieces stay raw bytes
    std::vector<text::AddedToken> specials;
    std::unique_ptr<text::AddedTokenMatcher> special_matcher;
    std::unique_ptr<text::RegexScratch> scratch = std::make_unique<text::RegexScratch>();
    std::unordered_map<std::string, uint64_t, StringHash, std::equal_to<>> word_counts;
    BpeTrainerStats stats;
    bool trained = false;
    std::vector<std::string> vocab;                  // id -> byte-level token string
    std::vector<std::pair<int32_t, int32_t>> merges;

    void count(std::string_view raw);
    void learn();
};

BpeTrainer::BpeTrainer(BpeTrainerOptions options) : impl_(std::make_unique<Impl>()) {
    Impl& m = *impl_;
    m.opt = std::move(options);
    for (const auto* t : {&m.opt.bos_token, &m.opt.eos_token, &m.opt.pad_token})
        if (*t && std::find(m.opt.special_tokens.begin(), m.opt.special_tokens.end(), **t) == m.opt.special_tokens.end())
            m.opt.special_tokens.push_back(**t);
    for (const auto& s : m.opt.special_tokens) {
        ENGINE_CHECK(!s.empty() && text::utf8_is_valid(s), kInvalidArgument,
                     "BPE trainer: special tokens must be non-empty UTF-8 strings");
        m.specials.push_back({int32_t(m.specials.size()), s, true, false, false, false, false});
    }
    ENGINE_CHECK(m.opt.vocab_size >= 256 + m.specials.size(), kInvalidArgument, "BPE trainer: vocab_size ",
                 m.opt.vocab_size, " is smaller than the 256 byte tokens plus ", m.specials.size(), " special tokens");
    ENGINE_CHECK(m.opt.vocab_size < (size_t(1) << 31), kInvalidArgument, "BPE trainer: vocab_size is too large");
    m.special_matcher = std::make_unique<text::AddedTokenMatcher>(m.specials, false);
    const nlohmann::json pre = {{"type", "Sequence"}, {"pretokenizers", split_json(m.opt.split_patterns)}};
    m.splitter = text::make_pre_tokenizer(pre, {"BPE trainer options", "split_patterns"}, m.alphabet);
}

BpeTrainer::~BpeTrainer() = default;

void BpeTrainer::Impl::count(std::string_view raw) {
    ENGINE_CHECK(!trained, kInvalidArgument, "BPE trainer: add text before train()");
    const auto t0 = Clock::now();
    const std::string textv = text::utf8_lossy(raw);
    std::vector<text::Segment> segs;
    special_matcher->split(textv, *scratch, segs);
    text::PieceList pieces;
    for (const auto& s : segs) {
        if (s.id >= 0) continue;
        pieces.views.assign(1, s.text);
        pieces.storage.clear();
        splitter->split(pieces, *scratch);
        for (std::string_view w : pieces.views) {
            auto it = word_counts.find(w);
            if (it == word_counts.end()) word_counts.emplace(std::string(w), 1);
            else ++it->second;
        }
        stats.words += pieces.views.size();
    }
    stats.bytes += raw.size();
    stats.count_seconds += seconds_since(t0);
}

void BpeTrainer::add_text(std::string_view text) { impl_->count(text); }

void BpeTrainer::add_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) ENGINE_THROW(kIo, path.string(), ": cannot open training text");
    std::string carry, block(1 << 20, '\0');
    while (in) {
        in.read(block.data(), std::streamsize(block.size()));
        const size_t got = size_t(in.gcount());
        if (got == 0) break;
        carry.append(block.data(), got);
        const size_t cut = carry.rfind('\n');
        if (cut == std::string::npos) continue;  // keep reading until a line ends
        impl_->count(std::string_view(carry).substr(0, cut + 1));
        carry.erase(0, cut + 1);
    }
    if (in.bad()) ENGINE_THROW(kIo, path.string(), ": read failed");
    if (!carry.empty()) impl_->count(carry);
}

void BpeTrainer::Impl::learn() {
    const auto t0 = Clock::now();
    const auto nspec = int32_t(specials.size());
    for (const auto& s : specials) vocab.push_back(s.content);
    for (int b = 0; b < 256; ++b) vocab.push_back(alphabet.encode_byte(uint8_t(b)));

    // Words as symbol ids (byte b -> nspec + b) with their counts.
    struct Word { std::vector<int32_t> sym; uint64_t count; };
    std::vector<Word> words;
    words.reserve(word_counts.size());
    for (const auto& [w, c] : word_counts) {
        Word word{{}, c};
        word.sym.reserve(w.size());
        for (char ch : w) word.sym.push_back(nspec + uint8_t(ch));
        words.push_back(std::move(word));
    }
    stats.unique_words = words.size();
    word_counts.clear();

    std::unordered_map<uint64_t, int64_t> pair_counts;
    std::unordered_map<uint64_t, std::vector<uint32_t>> where;  // pair -> words holding it (may repeat)
    for (uint32_t wi = 0; wi < words.size(); ++wi) {
        const auto& s = words[wi].sym;
        for (size_t i = 0; i + 1 < s.size(); ++i) {
            const uint64_t k = pair_key(s[i], s[i + 1]);
            pair_counts[k] += int64_t(words[wi].count);
            auto& v = where[k];
            if (v.empty() || v.back() != wi) v.push_back(wi);
        }
    }
    // Max-heap on count; ties go to the smaller pair (deterministic, as HF's trainer).
    struct Entry {
        int64_t count;
        uint64_t key;
        bool operator<(const Entry& o) const { return count != o.count ? count < o.count : key > o.key; }
    };
    std::priority_queue<Entry> heap;
    for (const auto& [k, c] : pair_counts) heap.push({c, k});

    std::vector<uint32_t> stamp(words.size(), UINT32_MAX);
    std::vector<uint64_t> touched;
    std::vector<int32_t> next;
    while (vocab.size() < opt.vocab_size && !heap.empty()) {
        const Entry top = heap.top();
        heap.pop();
        auto pc = pair_counts.find(top.key);
        const int64_t cur = pc == pair_counts.end() ? 0 : pc->second;
        if (cur != top.count) {  // stale entry: requeue with the current count
            if (cur > 0) heap.push({cur, top.key});
            continue;
        }
        if (cur < int64_t(std::max<size_t>(opt.min_frequency, 1))) break;
        const auto a = int32_t(top.key >> 32), b = int32_t(top.key & 0xFFFFFFFFu);
        const auto new_id = int32_t(vocab.size());
        vocab.push_back(vocab[size_t(a)] + vocab[size_t(b)]);
        merges.emplace_back(a, b);
        const auto merge_no = uint32_t(merges.size());

        touched.clear();
        auto bump = [&](int32_t x, int32_t y, int64_t delta, uint32_t wi) {
            const uint64_t k = pair_key(x, y);
            pair_counts[k] += delta;
            touched.push_back(k);
            if (delta > 0) {
                auto& v = where[k];
                if (v.empty() || v.back() != wi) v.push_back(wi);
            }
        };
        std::vector<uint32_t> holders = std::move(where[top.key]);
        where.erase(top.key);
        for (uint32_t wi : holders) {
            if (stamp[wi] == merge_no) continue;
            stamp[wi] = merge_no;
            Word& w = words[wi];
            const auto c = int64_t(w.count);
            auto& s = w.sym;
            bool any = false;
            for (size_t i = 0; i + 1 < s.size(); ++i)
                if (s[i] == a && s[i + 1] == b) { any = true; break; }
            if (!any) continue;
            // Recount this word's pairs around the merge: remove the old ones, add the new ones.
            for (size_t i = 0; i + 1 < s.size(); ++i) bump(s[i], s[i + 1], -c, wi);
            next.clear();
            for (size_t i = 0; i < s.size(); ++i) {
                if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
                    next.push_back(new_id);
                    ++i;
                } else {
                    next.push_back(s[i]);
                }
            }
            s.swap(next);
            for (size_t i = 0; i + 1 < s.size(); ++i) bump(s[i], s[i + 1], c, wi);
        }
        pair_counts.erase(top.key);
        std::sort(touched.begin(), touched.end());
        touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
        for (uint64_t k : touched) {
            auto it = pair_counts.find(k);
            if (it == pair_counts.end()) continue;
            if (it->second <= 0) {
                pair_counts.erase(it);
                where.erase(k);
            } else {
                heap.push({it->second, k});
            }
        }
    }
    stats.merges = merges.size();
    stats.merge_seconds = seconds_since(t0);
}

void BpeTrainer::train() {
    if (impl_->trained) return;
    impl_->learn();
    impl_->trained = true;
}

const BpeTrainerStats& BpeTrainer::stats() const { return impl_->stats; }

std::string BpeTrainer::tokenizer_json() const {
    const Impl& m = *impl_;
    ENGINE_CHECK(m.trained, kInvalidArgument, "BPE trainer: call train() before writing the tokenizer");
    using J = nlohmann::ordered_json;
    J added = J::array();
    for (const auto& s : m.specials)
        added.push_back({{"id", s.id}, {"content", s.content}, {"single_word", false}, {"lstrip", false},
                         {"rstrip", false}, {"normalized", false}, {"special", true}});
    J pre = split_json(m.opt.split_patterns);
    pre.push_back({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}});
    J vocab = J::object();
    for (size_t id = 0; id < m.vocab.size(); ++id) vocab[m.vocab[id]] = id;
    J merges = J::array();
    for (auto [a, b] : m.merges) merges.push_back(m.vocab[size_t(a)] + " " + m.vocab[size_t(b)]);
    const J byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}};
    J root = {{"version", "1.0"},
              {"truncation", nullptr},
              {"padding", nullptr},
              {"added_tokens", added},
              {"normalizer", nullptr},
              {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", pre}}},
              {"post_processor", byte_level},
              {"decoder", byte_level},
              {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr},
                         {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr},
                         {"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", false},
                         {"vocab", vocab}, {"merges", merges}}}};
    return root.dump(1);
}

std::string BpeTrainer::tokenizer_config_json() const {
    const Impl& m = *impl_;
    using J = nlohmann::ordered_json;
    J decoder = J::object();
    for (const auto& s : m.specials)
        decoder[std::to_string(s.id)] = {{"content", s.content}, {"lstrip", false}, {"normalized", false},
                                         {"rstrip", false}, {"single_word", false}, {"special", true}};
    auto tok = [](const std::optional<std::string>& t) { return t ? J(*t) : J(nullptr); };
    J cfg = {{"tokenizer_class", "PreTrainedTokenizerFast"},
             {"add_bos_token", m.opt.add_bos_token && m.opt.bos_token.has_value()},
             {"add_eos_token", false},
             {"bos_token", tok(m.opt.bos_token)},
             {"eos_token", tok(m.opt.eos_token)},
             {"pad_token", tok(m.opt.pad_token)},
             {"unk_token", nullptr},
             {"clean_up_tokenization_spaces", false},
             {"model_max_length", m.opt.model_max_length},
             {"added_tokens_decoder", decoder}};
    return cfg.dump(1);
}

void BpeTrainer::save(const std::filesystem::path& dir) const {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) ENGINE_THROW(kIo, dir.string(), ": cannot create folder: ", ec.message());
    const std::pair<const char*, std::string> files[] = {{"tokenizer.json", tokenizer_json()},
                                                         {"tokenizer_config.json", tokenizer_config_json()}};
    for (const auto& [name, body] : files) {
        const auto path = dir / name;
        const auto tmp = dir / (std::string(name) + ".tmp");
        {
            std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
            if (!out) ENGINE_THROW(kIo, tmp.string(), ": cannot open for writing");
            out.write(body.data(), std::streamsize(body.size()));
            out.flush();
            if (!out) ENGINE_THROW(kIo, tmp.string(), ": write failed (disk full?)");
        }
        std::filesystem::rename(tmp, path, ec);
        if (ec) ENGINE_THROW(kIo, path.string(), ": cannot replace: ", ec.message());
    }
}

}  // namespace engine
