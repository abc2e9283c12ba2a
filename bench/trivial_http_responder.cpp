// The cheapest HTTP/1.1 endpoint this machine can serve: one thread, one epoll loop, a fixed
// 200 answer to every bodiless request. bench/load_vs_wrk.sh points both load generators at it
// to compare the generators themselves: against fwbench serve the server's ~12 µs per request
// is the bottleneck, and the ratio only says that both tools keep it busy.
//   trivial_http_responder PORT_FILE   (binds 127.0.0.1 on a free port, writes the port there)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>

namespace {

constexpr std::string_view kAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

int Fail(const char* what) {
  std::perror(what);
  return 1;
}

// Answers every complete request in `pending` (a request ends at an empty line; these requests
// have no body) and keeps an incomplete tail for the next read.
bool Answer(int fd, std::string& pending) {
  std::string out;
  std::size_t from = 0;
  for (std::size_t end; (end = pending.find("\r\n\r\n", from)) != std::string::npos;) {
    out += kAnswer;
    from = end + 4;
  }
  pending.erase(0, from);
  std::size_t sent = 0;
  while (sent < out.size()) {
    const ssize_t n = write(fd, out.data() + sent, out.size() - sent);
    if (n <= 0) return false;  // a client that stops reading is dropped: this is a benchmark
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PORT_FILE\n", argv[0]);
    return 2;
  }
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return Fail("bind");
  if (listen(listener, 1024) != 0) return Fail("listen");
  socklen_t len = sizeof addr;
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  if (FILE* f = std::fopen(argv[1], "w")) {
    std::fprintf(f, "%d\n", ntohs(addr.sin_port));
    std::fclose(f);
  } else {
    return Fail(argv[1]);
  }
  const int ep = epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listener;
  epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
  std::unordered_map<int, std::string> pending;
  epoll_event events[256];
  char buffer[65536];
  while (true) {
    const int n = epoll_wait(ep, events, 256, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail("epoll_wait");
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listener) {
        for (int c; (c = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
          const int one = 1;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
          pending[c];
        }
        continue;
      }
      const ssize_t got = read(fd, buffer, sizeof buffer);
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      std::string& p = pending[fd];
      if (got > 0) p.append(buffer, static_cast<std::size_t>(got));
      if (got <= 0 || !Answer(fd, p)) {
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
        close(fd);
        pending.erase(fd);
      }
    }
  }
}
