// A SOCK_SEQPACKET Unix socket carrying messages with descriptors (SCM_RIGHTS), driven by the
// environment's libuv loop through one uv_poll_t: no thread per socket, no busy loop.
#pragma once
#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <vector>

#include "unique-fd.h"

namespace memfd_pool {

// Hard ceiling on descriptors per message, well under the kernel's SCM_MAX_FD (253).
constexpr size_t kMaxFdsCeiling = 64;
// Hard ceiling on one message's data.
constexpr size_t kMaxMessageCeiling = 1 << 20;

class Channel : public Napi::ObjectWrap<Channel> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Channel(const Napi::CallbackInfo& info);
  ~Channel() override;

 private:
  struct Pending {
    std::vector<uint8_t> data;
    std::vector<UniqueFd> fds;  // our own duplicates: the caller keeps (and closes) theirs
  };

  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Peer(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value PendingCount(const Napi::CallbackInfo& info);

  static void OnPoll(uv_poll_t* handle, int status, int events);
  void ReadAvailable();
  void FlushQueue();
  void UpdatePoll();
  int SendNow(const uint8_t* data, size_t length, const int* fds, size_t count);
  // Stops polling and closes the descriptor and every queued duplicate. Idempotent.
  void Shutdown();
  // Calls the JavaScript listener; an exception it throws becomes an uncaught exception.
  void Emit(std::initializer_list<napi_value> args);

  UniqueFd fd_;
  uv_poll_t* poll_ = nullptr;
  Napi::FunctionReference listener_;
  std::deque<Pending> queue_;
  std::vector<uint8_t> receive_buffer_;
  std::vector<uint64_t> control_buffer_;  // uint64_t: aligned for cmsghdr
  size_t max_message_;
  size_t max_fds_;
  bool open_ = false;
  bool referenced_ = true;
};

// socketPair(), connectSeqpacket() helpers live in channel.cc too.
void InitChannel(Napi::Env env, Napi::Object exports);

}  // namespace memfd_pool
