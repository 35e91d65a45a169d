// stream_decoder.cpp — incremental detokenization that only ever returns whole UTF-8 characters.
#include "engine/tokenizer.h"
#include "text/utf8.h"

namespace engine {

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_(skip_special_tokens) {}

std::string StreamDecoder::push(int32_t id) {
    if (skip_special_ && tokenizer_.is_special(id)) return {};
    pending_ += tokenizer_.token_bytes(id);
    // Hold back an unfinished character at the end; everything before it is final. Bytes that can never
    // become valid are final too and come out as U+FFFD (as decode() would show them).
    const size_t keep = text::utf8_incomplete_tail(pending_);
    const size_t ready = pending_.size() - keep;
    if (ready == 0) return {};
    std::string out = text::utf8_lossy(std::string_view(pending_).substr(0, ready));
    pending_.erase(0, ready);
    return out;
}

std::string StreamDecoder::flush() {
    std::string out = text::utf8_lossy(pending_);
    pending_.clear();
    return out;
}

}  // namespace engine
