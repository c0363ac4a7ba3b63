#include "serve/client_connection.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>

namespace edgelm::serve {

namespace {

// The port and printable address of a socket address.
bool describe(const sockaddr_storage& a, std::string& addr, int& port) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (a.ss_family == AF_INET) {
        const auto& in = reinterpret_cast<const sockaddr_in&>(a);
        inet_ntop(AF_INET, &in.sin_addr, buf, sizeof buf);
        port = ntohs(in.sin_port);
    } else if (a.ss_family == AF_INET6) {
        const auto& in6 = reinterpret_cast<const sockaddr_in6&>(a);
        inet_ntop(AF_INET6, &in6.sin6_addr, buf, sizeof buf);
        port = ntohs(in6.sin6_port);
    } else {
        return false;
    }
    addr = buf;
    return true;
}

}  // namespace

ClientConnection::ClientConnection(const std::string& remote_addr, int remote_port,
                                   int local_port) {
    DIR* dir = opendir("/proc/self/fd");
    if (!dir) return;
    while (dirent* e = readdir(dir)) {
        const int fd = std::atoi(e->d_name);
        struct stat st {};
        if (e->d_name[0] == '.' || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
        sockaddr_storage peer{}, local{};
        socklen_t pl = sizeof peer, ll = sizeof local;
        if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl) != 0 ||
            getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll) != 0)
            continue;
        std::string pa, la;
        int pp = 0, lp = 0;
        if (describe(peer, pa, pp) && describe(local, la, lp) && pp == remote_port &&
            lp == local_port && pa == remote_addr) {
            fd_ = fd;
            break;
        }
    }
    closedir(dir);
}

bool ClientConnection::alive() const {
    if (fd_ < 0) return true;
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    if (poll(&p, 1, 0) <= 0) return true;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return false;
    if (p.revents & POLLIN) {  // data (a pipelined request) or the end of the stream
        char c;
        return recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT) != 0;
    }
    return true;
}

}  // namespace edgelm::serve
