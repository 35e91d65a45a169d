// main.cpp — the `latent` command-line tool: dispatches to the registered sub-commands.
#include <cstdio>
#include <cstdlib>
#include <unistd.h>
#include <stdexcept>
#include <string>

#include "command.h"
#include "engine/error.h"

namespace cli {

std::map<std::string, Command>& registry() {
    static std::map<std::string, Command> commands;  // filled by static Registrars in cmd_*.cpp
    return commands;
}

std::optional<std::string> Args::option(std::initializer_list<const char*> names) {
    for (size_t i = 0; i < argv_.size(); ++i) {
        for (const char* n : names) {
            const std::string name(n);
            if (argv_[i] == name) {
                if (i + 1 >= argv_.size())
                    throw engine::Error(engine::ErrorKind::kInvalidArgument, "option " + name + " needs a value");
                std::string v = argv_[i + 1];
                argv_.erase(argv_.begin() + long(i), argv_.begin() + long(i) + 2);
                return v;
            }
            if (argv_[i].rfind(name + "=", 0) == 0) {
                std::string v = argv_[i].substr(name.size() + 1);
                argv_.erase(argv_.begin() + long(i));
                return v;
            }
        }
    }
    return std::nullopt;
}

std::string Args::option_or(std::initializer_list<const char*> names, const std::string& fallback) {
    auto v = option(names);
    return v ? *v : fallback;
}

double Args::number_or(std::initializer_list<const char*> names, double fallback) {
    auto v = option(names);
    if (!v) return fallback;
    try {
        size_t used = 0;
        double d = std::stod(*v, &used);
        if (used != v->size()) throw std::invalid_argument("trailing characters");
        return d;
    } catch (const std::exception&) {
        throw engine::Error(engine::ErrorKind::kInvalidArgument,
                            std::string("option ") + *names.begin() + " expects a number, got '" + *v + "'");
    }
}

bool Args::flag(std::initializer_list<const char*> names) {
    for (size_t i = 0; i < argv_.size(); ++i)
        for (const char* n : names)
            if (argv_[i] == n) {
                argv_.erase(argv_.begin() + long(i));
                return true;
            }
    return false;
}

std::vector<std::string> Args::positionals(size_t min_count, size_t max_count, const std::string& usage) {
    for (const auto& a : argv_)
        if (a.size() > 1 && a[0] == '-' && a != "-")
            throw engine::Error(engine::ErrorKind::kInvalidArgument, "unknown option '" + a + "'\nusage: latent " + usage);
    if (argv_.size() < min_count || argv_.size() > max_count)
        throw engine::Error(engine::ErrorKind::kInvalidArgument, "usage: latent " + usage);
    return argv_;
}

}  // namespace cli

static void print_help() {
    std::printf("latent — run, inspect and train DeepSeek-style (MLA + MoE + mHC) models\n\nCommands:\n");
    for (const auto& [name, cmd] : cli::registry()) std::printf("  %-12s %s\n", name.c_str(), cmd.summary.c_str());
    std::printf("\nRun 'latent COMMAND --help' for a command's options.\n");
}

int main(int argc, char** argv) {
    // libgomp reads OMP_WAIT_POLICY once, before main(). Its default spin-waiting makes multi-threaded
    // decode many times slower whenever another process competes for the cores (measured: 2-4.5 s/token
    // instead of ~50 ms on a loaded 2-core machine), so the tool re-executes itself once with passive
    // waiting unless the user chose a policy.
    if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
        ::setenv("OMP_WAIT_POLICY", "passive", 1);
        ::execv("/proc/self/exe", argv);  // returns only on failure: then carry on as we are
    }
    if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
        std::string(argv[1]) == "help") {
        print_help();
        return argc < 2 ? 2 : 0;
    }
    if (std::string(argv[1]) == "--version") {
        std::printf("latent %s\n", LATENT_VERSION_STRING);
        return 0;
    }
    auto it = cli::registry().find(argv[1]);
    if (it == cli::registry().end()) {
        std::fprintf(stderr, "latent: unknown command '%s'\n\n", argv[1]);
        print_help();
        return 2;
    }
    if (argc >= 3 && (std::string(argv[2]) == "--help" || std::string(argv[2]) == "-h")) {
        std::printf("usage: latent %s\n\n%s\n", it->second.usage.c_str(), it->second.summary.c_str());
        return 0;
    }
    cli::Args args(std::vector<std::string>(argv + 2, argv + argc));
    try {
        return it->second.run(args);
    } catch (const engine::Error& e) {
        std::fprintf(stderr, "latent %s: %s\n", argv[1], e.message().c_str());
        return e.kind() == engine::ErrorKind::kInvalidArgument ? 2 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "latent %s: %s\n", argv[1], e.what());
        return 1;
    }
}
