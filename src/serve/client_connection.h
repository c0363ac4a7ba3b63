// Whether the client of a request is still there. cpp-httplib does not give handlers
// their socket, and a stream only notices a closed connection when a write fails (the
// first write after the peer closed still succeeds), so a server that waits for a
// generation would go on computing for a client that left. This finds the request's
// socket once (the one whose addresses match the request's) and polls it for a hang-up.
#pragma once

#include <string>

namespace edgelm::serve {

class ClientConnection {
  public:
    ClientConnection(const std::string& remote_addr, int remote_port, int local_port);
    // False once the peer has closed or reset the connection. Cheap (one poll).
    bool alive() const;

  private:
    int fd_ = -1;  // -1: not found (alive() then relies on writes failing)
};

}  // namespace edgelm::serve
