// command.h — the `latent` CLI's sub-command registry.
//
// Each sub-command lives in its own cmd_<name>.cpp and registers itself:
//   LATENT_COMMAND(info, "info MODEL", "architecture, parameters, memory, KV cache MLA vs MHA", run_info);
// where `int run_info(Args& args)` returns the process exit code. Errors are engine::Error exceptions,
// printed by main() with a non-zero exit code.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cli {

// Minimal argv parser: positionals, --flag, --key value, --key=value, -p value.
class Args {
public:
    Args(std::vector<std::string> argv) : argv_(std::move(argv)) {}
    // Option value; `names` like {"-p", "--prompt"}. Consumes it.
    std::optional<std::string> option(std::initializer_list<const char*> names);
    std::string option_or(std::initializer_list<const char*> names, const std::string& fallback);
    double number_or(std::initializer_list<const char*> names, double fallback);
    bool flag(std::initializer_list<const char*> names);  // consumes a boolean switch
    // After options are consumed: the remaining positionals. Throws on an unknown leftover --option.
    std::vector<std::string> positionals(size_t min_count, size_t max_count, const std::string& usage);

private:
    std::vector<std::string> argv_;
};

struct Command {
    std::string name, usage, summary;
    std::function<int(Args&)> run;
};

std::map<std::string, Command>& registry();

struct Registrar {
    Registrar(const char* name, const char* usage, const char* summary, std::function<int(Args&)> run) {
        registry()[name] = Command{name, usage, summary, std::move(run)};
    }
};

}  // namespace cli

#define LATENT_COMMAND(NAME, USAGE, SUMMARY, FN) \
    static ::cli::Registrar latent_command_##NAME(#NAME, USAGE, SUMMARY, FN)
