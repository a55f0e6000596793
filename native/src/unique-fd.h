// A move-only owner of one file descriptor: the C++ form of systemd's _cleanup_close_ / TAKE_FD.
// Every descriptor the addon creates or receives lives in a UniqueFd until it is handed to
// JavaScript (Release()), so every early return and every thrown exception closes it.
#pragma once
#include <unistd.h>
#include <utility>

namespace memfd_pool {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(other.Release());
    return *this;
  }
  ~UniqueFd() { Reset(); }

  int Get() const { return fd_; }
  bool Valid() const { return fd_ >= 0; }
  // Gives up ownership: the caller now closes it.
  int Release() { return std::exchange(fd_, -1); }
  // close() is not retried on EINTR: on Linux the descriptor is released even then (close(2)).
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace memfd_pool
