#include "TinyChatModel.h"

#include <QDir>
#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tiny_checkpoint.h"  // tests/engine/model: random weights in the HF layout

namespace TinyChatModel {

namespace {
// GPT-2 byte-level alphabet: printable bytes map to themselves, the rest to U+0100 onwards.
std::string byteLevelChar(int b) {
    static std::vector<std::string> table = [] {
        std::vector<int> printable;
        for (int i = 33; i <= 126; ++i) printable.push_back(i);
        for (int i = 161; i <= 172; ++i) printable.push_back(i);
        for (int i = 174; i <= 255; ++i) printable.push_back(i);
        std::vector<std::string> t(256);
        int extra = 0;
        for (int byte = 0; byte < 256; ++byte) {
            const bool direct = std::find(printable.begin(), printable.end(), byte) != printable.end();
            const char32_t cp = direct ? char32_t(byte) : char32_t(256 + extra++);
            std::string s;
            if (cp < 0x80) s += char(cp);
            else {
                s += char(0xC0 | (cp >> 6));
                s += char(0x80 | (cp & 0x3F));
            }
            t[byte] = s;
        }
        return t;
    }();
    return table[b];
}
}  // namespace

void write(const QString& dirPath, int hiddenSize, int layers, int routedExperts, unsigned seed) {
    const std::filesystem::path dir = dirPath.toStdString();
    std::filesystem::create_directories(dir);
    const char* specials[] = {"<|bos|>", "<|im_start|>", "<|im_end|>", "<|eos|>"};
    engine::ModelConfig c = tiny::v2_config();
    c.vocab_size = 256 + 4;
    c.hidden_size = hiddenSize;
    c.intermediate_size = hiddenSize * 2;
    c.moe_intermediate_size = hiddenSize / 2;
    c.num_hidden_layers = layers;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 4;
    c.kv_lora_rank = 32;
    c.qk_nope_head_dim = 16;
    c.qk_rope_head_dim = 16;
    c.v_head_dim = 16;
    c.n_shared_experts = 1;
    c.n_routed_experts = routedExperts;
    c.num_experts_per_tok = 4;
    c.first_k_dense_replace = 1;
    c.max_position_embeddings = 2048;
    c.bos_token_id = 256;
    c.eos_token_ids = {258};
    tiny::TensorMap weights = tiny::random_weights(c, seed);
    // Keep the random replies readable: only lowercase letters, space, a little punctuation and
    // <|im_end|> get output weights (scaled up), every other token's lm_head row is zero, so the
    // sampler's min_p cut removes them.
    tiny::HostTensor& head = weights.at("lm_head.weight");  // [V, D] F32
    auto* rows = reinterpret_cast<float*>(head.bytes.data());
    for (int64_t v = 0; v < c.vocab_size; ++v) {
        const bool letter = (v >= 'a' && v <= 'z') || v == ' ' || v == ',' || v == '.';
        const float scale = letter ? (v == ' ' ? 6.0f : 4.0f) : v == 258 ? 2.0f : 0.0f;
        for (int64_t d = 0; d < c.hidden_size; ++d) rows[v * c.hidden_size + d] *= scale;
    }
    tiny::write_checkpoint(dir, c, weights);

    nlohmann::json vocab = nlohmann::json::object();
    for (int b = 0; b < 256; ++b) vocab[byteLevelChar(b)] = b;
    nlohmann::json added = nlohmann::json::array();
    for (int i = 0; i < 4; ++i)
        added.push_back({{"id", 256 + i}, {"content", specials[i]}, {"single_word", false}, {"lstrip", false},
                         {"rstrip", false}, {"normalized", false}, {"special", true}});
    const nlohmann::json byteLevel = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
    const nlohmann::json tokenizer = {
        {"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr}, {"added_tokens", added},
        {"normalizer", nullptr}, {"pre_tokenizer", byteLevel}, {"post_processor", nullptr}, {"decoder", byteLevel},
        {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
                   {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false},
                   {"vocab", vocab}, {"merges", nlohmann::json::array()}}}};
    std::ofstream(dir / "tokenizer.json") << tokenizer.dump();
    const nlohmann::json config = {{"bos_token", "<|bos|>"}, {"eos_token", "<|im_end|>"}, {"add_bos_token", false},
                                   {"model_max_length", 2048}};
    std::ofstream(dir / "tokenizer_config.json") << config.dump(2);
}

}  // namespace TinyChatModel
