// The API thread (api/http/http_server.cpp): an epoll loop over the listening Unix socket and its
// clients. It creates no socket (clients come from accept4) and opens only /dev/null.
#include "jail/filters/allowlists.hpp"

#include <fcntl.h>

namespace ember::jail {

Allowlist api_allowlist() {
    Allowlist list = common_rules();
    const Allowlist own = {
        {"epoll_wait", "the server's event loop", {}},
        {"epoll_pwait", "the server's event loop (glibc may use the p variant)", {}},
        {"epoll_ctl", "watch clients, switch between reading and writing", {}},
        {"accept4", "take a client from the listening Unix socket", {}},
        {"read", "read requests; consume the stop eventfd", {}},
        {"sendto", "write replies (send with MSG_NOSIGNAL)", {}},
        {"close", "drop a client", {}},
        {"openat",
         "reopen /dev/null as the spare fd that lets the server shed a client when out of fds",
         {arg_masked_eq(2, O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND, O_RDONLY,
                        "read-only, never creates or truncates")}},
        {"exit", "the server thread ends", {}},
    };
    list.insert(list.end(), own.begin(), own.end());
    return list;
}

} // namespace ember::jail
