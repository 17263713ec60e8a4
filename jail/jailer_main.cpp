// ember-jailer: entry point. Parses the flags, runs the jail's steps (jail/jailer/jailer.hpp)
// and execs ember inside the jail; returns only with one of the jailer's documented codes
// (docs/exit-codes.md), or, with --new-pid-ns, with ember's status.
#include "jail/jailer/config.hpp"
#include "jail/jailer/jailer.hpp"
#include "jail/jailer/real_os.hpp"
#include "vmm/sys/logger.hpp"

#include <unistd.h>

#include <exception>

namespace {

using ember::jailer::JailerExit;

int run(int argc, char** argv) {
    auto request = ember::jailer::parse_jailer_cli(std::vector<std::string>(argv, argv + argc));
    if (!request) {
        ember::log::error("jailer: {}", request.error().describe());
        return to_int(JailerExit::kBadArguments);
    }
    if (const auto* print = std::get_if<ember::jailer::PrintAndExit>(&*request)) {
        [[maybe_unused]] const ssize_t w =
            ::write(STDOUT_FILENO, print->text.data(), print->text.size());
        return to_int(JailerExit::kSuccess);
    }
    ember::log::set_level(ember::log::Level::kInfo);
    ember::jailer::RealOs os;
    const auto outcome =
        ember::jailer::run_jailer(os, std::get<ember::jailer::JailerConfig>(*request));
    if (outcome.error) ember::log::error("jailer: {}", outcome.error->describe());
    return outcome.status;
}

} // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        ember::log::error("internal error: {}", e.what());
        return to_int(JailerExit::kSetup);
    }
}
