// bpe_model.cpp — vocab/merges loading and the priority-queue BPE merge loop.
#include "text/bpe_model.h"

#include <algorithm>
#include <queue>

#include "text/utf8.h"

namespace engine::text {

namespace {
constexpr size_t kCacheMaxEntries = 200'000;
constexpr size_t kCacheMaxWordBytes = 256;
constexpr int32_t kLongWord = 512;  // symbols; longer words use the bucketed queue (merge_long)

uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}
}  // namespace

BpeModel::BpeModel(const Json& j, const JsonPath& path) {
    const std::string type = json_string_or(j, "type", "BPE", path);
    if (type != "BPE")
        ENGINE_THROW(kUnsupported, path.at("type").where(), " is '", type,
                     "': only BPE models are supported (WordPiece/Unigram/WordLevel are not)");
    const JsonPath vpath = path.at("vocab");
    const Json& vocab = json_require(j, "vocab", path);
    if (!vocab.is_object())
        ENGINE_THROW(kBadFile, vpath.where(), " should be an object {token: id}, found ", json_type_name(vocab));
    vocab_.reserve(vocab.size());
    int64_t max_id = -1;
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
        const JsonPath ip = vpath.at(it.key());
        const int64_t id = json_int(it.value(), ip);
        if (id < 0 || id >= (int64_t{1} << 31) - 1)
            ENGINE_THROW(kBadFile, ip.where(), " has id ", id, "; ids must be in [0, 2^31)");
        vocab_[it.key()] = static_cast<int32_t>(id);
        max_id = std::max(max_id, id);
    }
    if (max_id > int64_t{64} * int64_t(vocab.size()) + 1'000'000)
        ENGINE_THROW(kBadFile, vpath.where(), " has id ", max_id, " but only ", vocab.size(),
                     " entries; ids should be dense");
    id_to_token_.resize(static_cast<size_t>(max_id + 1));
    has_id_.assign(static_cast<size_t>(max_id + 1), false);
    for (const auto& [tok, id] : vocab_) {
        if (has_id_[static_cast<size_t>(id)])
            ENGINE_THROW(kBadFile, vpath.where(), ": id ", id, " is used by both '", id_to_token_[size_t(id)],
                         "' and '", tok, "'");
        id_to_token_[static_cast<size_t>(id)] = tok;
        has_id_[static_cast<size_t>(id)] = true;
    }

    if (const Json* u = json_optional(j, "unk_token")) {
        const std::string unk = json_string(*u, path.at("unk_token"));
        auto it = vocab_.find(unk);
        if (it == vocab_.end())
            ENGINE_THROW(kBadFile, path.at("unk_token").where(), " is '", unk, "', which is not in model.vocab");
        unk_id_ = it->second;
    }
    prefix_ = json_string_or(j, "continuing_subword_prefix", "", path);
    suffix_ = json_string_or(j, "end_of_word_suffix", "", path);
    ignore_merges_ = json_bool_or(j, "ignore_merges", false, path);
    byte_fallback_ = json_bool_or(j, "byte_fallback", false, path);
    fuse_unk_ = json_bool_or(j, "fuse_unk", false, path);
    if (const Json* d = json_optional(j, "dropout"))
        if (!d->is_number() || d->get<double>() != 0.0)
            ENGINE_THROW(kUnsupported, path.at("dropout").where(), " is set; BPE dropout is a training-time "
                         "option and is not supported for inference (set it to null)");
    if (prefix_.empty() && suffix_.empty()) {
        for (const auto& [tok, id] : vocab_) {
            size_t i = 0;
            if (!tok.empty() && utf8_valid_len(tok, 0) == tok.size()) {
                const uint32_t cp = utf8_next(tok, i);
                if (cp >= 0x10000) continue;
                if (cp >= char_ids_.size()) char_ids_.resize(std::max<size_t>(cp + 1, 512), -1);
                char_ids_[cp] = id;
            }
        }
        if (char_ids_.empty()) char_ids_.assign(1, -1);
    }
    for (int b = 0; b < 256; ++b) {
        static const char* hex = "0123456789ABCDEF";
        const std::string name = std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">";
        auto it = vocab_.find(name);
        byte_ids_[b] = it == vocab_.end() ? -1 : it->second;
    }

    const JsonPath mpath = path.at("merges");
    const Json* merges = json_optional(j, "merges");
    if (merges) {
        json_array(*merges, mpath);
        merges_.reserve(merges->size());
        for (size_t r = 0; r < merges->size(); ++r) {
            const Json& m = (*merges)[r];
            const JsonPath ip = mpath.index(r);
            std::string a, b;
            if (m.is_string()) {  // "a b"
                const std::string s = m.get<std::string>();
                const size_t sp = s.find(' ');
                if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
                    ENGINE_THROW(kBadFile, ip.where(), " is '", s, "'; expected two tokens separated by one space");
                a = s.substr(0, sp);
                b = s.substr(sp + 1);
            } else if (m.is_array() && m.size() == 2) {  // ["a", "b"]
                a = json_string(m[0], ip.index(0));
                b = json_string(m[1], ip.index(1));
            } else {
                ENGINE_THROW(kBadFile, ip.where(), " should be \"a b\" or [\"a\", \"b\"], found ", m.dump().substr(0, 80));
            }
            auto ia = vocab_.find(a), ib = vocab_.find(b);
            if (ia == vocab_.end()) ENGINE_THROW(kBadFile, ip.where(), ": token '", a, "' is not in model.vocab");
            if (ib == vocab_.end()) ENGINE_THROW(kBadFile, ip.where(), ": token '", b, "' is not in model.vocab");
            std::string merged = a;
            merged += (!prefix_.empty() && b.rfind(prefix_, 0) == 0) ? b.substr(prefix_.size()) : b;
            auto im = vocab_.find(merged);
            if (im == vocab_.end())
                ENGINE_THROW(kBadFile, ip.where(), ": the merged token '", merged, "' is not in model.vocab");
            merges_.insert(pair_key(ia->second, ib->second), static_cast<int32_t>(r), im->second);
        }
    }
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
    auto it = vocab_.find(token);
    if (it == vocab_.end()) return std::nullopt;
    return it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
    if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size() || !has_id_[static_cast<size_t>(id)]) return nullptr;
    return &id_to_token_[static_cast<size_t>(id)];
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
    if (word.empty()) return;
    const bool cacheable = word.size() <= kCacheMaxWordBytes;
    if (cacheable) {
        std::lock_guard lock(cache_mutex_);
        auto it = cache_.find(word);
        if (it != cache_.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    const size_t start = out.size();
    merge_word(word, out);
    if (cacheable) {
        std::lock_guard lock(cache_mutex_);
        if (cache_.size() >= kCacheMaxEntries) cache_.clear();
        cache_.emplace(std::string(word), std::vector<int32_t>(out.begin() + long(start), out.end()));
    }
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>& out) const {
    if (ignore_merges_) {
        auto it = vocab_.find(word);
        if (it != vocab_.end()) {
            out.push_back(it->second);
            return;
        }
    }
    // Initial symbols: one per character (with the subword prefix/suffix), unknown ones by byte fallback
    // or the unk token (fused when fuse_unk), else dropped — as HF's BPE does.
    using Symbol = BpeSymbol;
    std::vector<Symbol> sym;
    sym.reserve(word.size());
    std::string key;
    bool last_unk = false;
    for (size_t i = 0; i < word.size();) {
        size_t len = utf8_valid_len(word, i);
        if (len == 0) len = 1;
        int32_t id = -1;
        if (!char_ids_.empty() && len <= 3) {
            size_t k = i;
            const uint32_t cp = len == 1 ? static_cast<uint8_t>(word[i]) : utf8_next(word, k);
            id = cp < char_ids_.size() ? char_ids_[cp] : -1;
        } else {
            key.clear();
            if (i > 0) key += prefix_;
            key.append(word.substr(i, len));
            if (i + len == word.size()) key += suffix_;
            auto it = vocab_.find(key);
            if (it != vocab_.end()) id = it->second;
        }
        if (id >= 0) {
            sym.push_back({id, 0, 0});
            last_unk = false;
        } else if (byte_fallback_ && [&] {
                       for (size_t k = 0; k < len; ++k)
                           if (byte_ids_[static_cast<uint8_t>(word[i + k])] < 0) return false;
                       return true;
                   }()) {
            for (size_t k = 0; k < len; ++k) sym.push_back({byte_ids_[static_cast<uint8_t>(word[i + k])], 0, 0});
            last_unk = false;
        } else if (unk_id_) {
            if (!(fuse_unk_ && last_unk)) sym.push_back({*unk_id_, 0, 0});
            last_unk = true;
        }
        i += len;
    }
    const auto n = static_cast<int32_t>(sym.size());
    for (int32_t k = 0; k < n; ++k) {
        sym[size_t(k)].prev = k - 1;
        sym[size_t(k)].next = k + 1 < n ? k + 1 : -1;
    }
    // Candidate merges ordered by (rank, position): the lowest rank first, leftmost on ties. Entries go
    // stale when a neighbour merges; they are checked against the current symbols when popped.
    if (n >= kLongWord) {
        merge_long(sym, n);
    } else {
        struct Cand {
            int32_t rank, pos, left, right, new_id;
            bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
        };
        std::vector<Cand> heap;
        heap.reserve(size_t(n));
        auto candidate = [&](int32_t pos) {
            const int32_t nx = sym[size_t(pos)].next;
            if (nx < 0) return false;
            const PairTable::Entry* it = merges_.find(pair_key(sym[size_t(pos)].id, sym[size_t(nx)].id));
            if (!it) return false;
            heap.push_back({it->rank, pos, sym[size_t(pos)].id, sym[size_t(nx)].id, it->new_id});
            return true;
        };
        const std::greater<> cmp;
        for (int32_t k = 0; k + 1 < n; ++k) candidate(k);
        std::make_heap(heap.begin(), heap.end(), cmp);  // O(n) for long words
        while (!heap.empty()) {
            std::pop_heap(heap.begin(), heap.end(), cmp);
            const Cand c = heap.back();
            heap.pop_back();
            Symbol& s = sym[size_t(c.pos)];
            if (s.id != c.left || s.next < 0 || sym[size_t(s.next)].id != c.right) continue;  // stale
            const int32_t nx = s.next;
            s.id = c.new_id;
            s.next = sym[size_t(nx)].next;
            if (s.next >= 0) sym[size_t(s.next)].prev = c.pos;
            sym[size_t(nx)].id = -1;  // removed
            if (s.prev >= 0 && candidate(s.prev)) std::push_heap(heap.begin(), heap.end(), cmp);
            if (candidate(c.pos)) std::push_heap(heap.begin(), heap.end(), cmp);
        }
    }
    for (int32_t k = n > 0 ? 0 : -1; k >= 0; k = sym[size_t(k)].next) out.push_back(sym[size_t(k)].id);
}

// Long words (e.g. a megabyte of one character): the same order of merges — lowest rank first, leftmost
// on ties — but candidates are kept per rank, each rank as an ascending run of positions plus a small
// heap for out-of-order ones. New candidates mostly arrive left to right, so a megabyte of one repeated
// character merges in near-linear time instead of sifting a million-entry heap.
void BpeModel::merge_long(std::vector<BpeSymbol>& sym, int32_t n) const {
    (void)n;
    struct Bucket {
        std::vector<int32_t> run;   // ascending positions, consumed from `head`
        size_t head = 0;
        std::vector<int32_t> heap;  // min-heap of positions that arrived out of order
        bool empty() const { return head == run.size() && heap.empty(); }
    };
    std::unordered_map<int32_t, Bucket> buckets;
    std::priority_queue<int32_t, std::vector<int32_t>, std::greater<>> ranks;  // ranks with a non-empty bucket
    auto rank_at = [&](int32_t pos, int32_t& new_id) -> int32_t {
        const int32_t nx = sym[size_t(pos)].next;
        if (sym[size_t(pos)].id < 0 || nx < 0) return -1;
        const PairTable::Entry* it = merges_.find(pair_key(sym[size_t(pos)].id, sym[size_t(nx)].id));
        if (!it) return -1;
        new_id = it->new_id;
        return it->rank;
    };
    auto push = [&](int32_t pos) {
        int32_t unused = 0;
        const int32_t r = rank_at(pos, unused);
        if (r < 0) return;
        Bucket& b = buckets[r];
        if (b.empty()) ranks.push(r);
        if (b.head == b.run.size() || pos > b.run.back()) {
            b.run.push_back(pos);
        } else {
            b.heap.push_back(pos);
            std::push_heap(b.heap.begin(), b.heap.end(), std::greater<>());
        }
    };
    for (int32_t k = 0; k + 1 < n; ++k) push(k);
    while (!ranks.empty()) {
        const int32_t r = ranks.top();
        Bucket& b = buckets[r];
        int32_t pos;
        if (!b.heap.empty() && (b.head == b.run.size() || b.heap.front() < b.run[b.head])) {
            std::pop_heap(b.heap.begin(), b.heap.end(), std::greater<>());
            pos = b.heap.back();
            b.heap.pop_back();
        } else {
            pos = b.run[b.head++];
        }
        if (b.empty()) {
            ranks.pop();
            buckets.erase(r);
        }
        int32_t new_id = 0;
        if (rank_at(pos, new_id) != r) continue;  // stale: the pair at pos changed since it was queued
        BpeSymbol& s = sym[size_t(pos)];
        const int32_t nx = s.next;
        s.id = new_id;
        s.next = sym[size_t(nx)].next;
        if (s.next >= 0) sym[size_t(s.next)].prev = pos;
        sym[size_t(nx)].id = -1;
        if (s.prev >= 0) push(s.prev);
        push(pos);
    }
}

}  // namespace engine::text
