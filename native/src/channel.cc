#include "channel.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "errors.h"
#include "memfd.h"

namespace memfd_pool {

namespace {

// Messages read per wake-up before yielding to the loop, so one busy peer cannot starve others.
// The poll is level-triggered: whatever is left wakes us again on the next turn.
constexpr int kReadsPerWakeup = 256;

size_t ControlSpace(size_t fds) { return CMSG_SPACE(sizeof(int) * fds); }

}  // namespace

Napi::Function Channel::Init(Napi::Env env) {
  return DefineClass(env, "NativeChannel", {
      InstanceMethod("send", &Channel::Send),
      InstanceMethod("close", &Channel::Close),
      InstanceMethod("peer", &Channel::Peer),
      InstanceMethod("ref", &Channel::Ref),
      InstanceMethod("unref", &Channel::Unref),
      InstanceMethod("pending", &Channel::PendingCount),
  });
}

// new NativeChannel(fd, listener(type, a, b), {maxMessageBytes, maxFds})
// The channel owns `fd` from here on, even when the constructor throws.
Channel::Channel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Channel>(info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  fd_.Reset(fd);
  if (!info[1].IsFunction()) throw Napi::TypeError::New(env, "The \"listener\" argument must be a function");
  Napi::Object options = info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(env);
  max_message_ = static_cast<size_t>(OptSize(options, "maxMessageBytes", 64 * 1024));
  max_fds_ = static_cast<size_t>(OptSize(options, "maxFds", 16));
  if (max_message_ < 1 || max_message_ > kMaxMessageCeiling) throw Napi::RangeError::New(env, "maxMessageBytes must be between 1 and 1 MiB");
  if (max_fds_ > kMaxFdsCeiling) throw Napi::RangeError::New(env, "maxFds must be at most 64");

  int type = 0;
  socklen_t len = sizeof(type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) ThrowErrno(env, errno, "getsockopt");
  if (type != SOCK_SEQPACKET) throw CodedError(env, "ERR_NOT_SEQPACKET", "The descriptor is not a SOCK_SEQPACKET socket");
  int r = SetCloexecNonblock(fd);
  if (r < 0) ThrowErrno(env, -r, "fcntl");

  // One byte more than the limit, so an oversize message is seen (MSG_TRUNC) rather than cut.
  receive_buffer_.resize(max_message_ + 1);
  control_buffer_.resize((ControlSpace(max_fds_ > 0 ? max_fds_ : 1) + 7) / 8);
  listener_ = Napi::Persistent(info[1].As<Napi::Function>());

  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) throw Napi::Error::New(env, "No event loop");
  poll_ = new uv_poll_t;
  r = uv_poll_init_socket(loop, poll_, fd);
  if (r < 0) {
    delete poll_;
    poll_ = nullptr;
    throw CodedError(env, uv_err_name(r), std::string("uv_poll_init_socket: ") + uv_strerror(r));
  }
  poll_->data = this;
  open_ = true;
  // While open, the JavaScript object must stay alive: the poll handle points at it.
  Napi::ObjectWrap<Channel>::Ref();
  UpdatePoll();
}

Channel::~Channel() { Shutdown(); }

void Channel::Shutdown() {
  if (poll_ != nullptr) {
    // libuv: stop polling before the descriptor is closed; the handle is freed in its close callback.
    uv_poll_stop(poll_);
    poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
  }
  queue_.clear();
  fd_.Reset();
  if (open_) {
    open_ = false;
    Napi::ObjectWrap<Channel>::Unref();
  }
}

void Channel::UpdatePoll() {
  if (poll_ == nullptr) return;
  int events = UV_READABLE | UV_DISCONNECT | (queue_.empty() ? 0 : UV_WRITABLE);
  uv_poll_start(poll_, events, &Channel::OnPoll);
}

void Channel::Emit(std::initializer_list<napi_value> args) {
  try {
    listener_.MakeCallback(Value(), args);
  } catch (const Napi::Error& e) {
    // Like an exception thrown by an 'data' listener of a net.Socket: uncaught, not swallowed.
    napi_fatal_exception(Env(), e.Value());
  }
}

void Channel::OnPoll(uv_poll_t* handle, int status, int events) {
  Channel* self = static_cast<Channel*>(handle->data);
  if (self == nullptr) return;
  Napi::Env env = self->Env();
  Napi::HandleScope scope(env);
  // Keep the object reachable for the whole dispatch even if a listener drops it.
  Napi::Object keep = self->Value();
  if (status < 0) {
    Napi::Error err = CodedError(env, uv_err_name(status), std::string("poll: ") + uv_strerror(status));
    self->Shutdown();
    self->Emit({Napi::String::New(env, "error"), err.Value()});
    self->Emit({Napi::String::New(env, "close")});
    return;
  }
  if (events & UV_WRITABLE) self->FlushQueue();
  // Readiness is a hint: read until EAGAIN. A disconnect is noticed as end-of-file once every
  // message the peer sent before leaving has been delivered.
  if (self->open_ && (events & (UV_READABLE | UV_DISCONNECT))) self->ReadAvailable();
  (void)keep;
}

void Channel::ReadAvailable() {
  Napi::Env env = Env();
  for (int n = 0; n < kReadsPerWakeup && open_; n++) {
    Napi::HandleScope scope(env);
    struct iovec iov = {receive_buffer_.data(), receive_buffer_.size()};
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control_buffer_.data();
    msg.msg_controllen = ControlSpace(max_fds_ > 0 ? max_fds_ : 1);
    ssize_t got = recvmsg(fd_.Get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      Napi::Error err = ErrnoError(env, errno, "recvmsg");
      Shutdown();
      Emit({Napi::String::New(env, "error"), err.Value()});
      Emit({Napi::String::New(env, "close")});
      return;
    }

    // Take ownership of every descriptor that arrived before looking at anything else, so each
    // failure below closes them all (systemd's recvmsg_safe + cmsg_close_all).
    std::vector<UniqueFd> fds;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      const unsigned char* p = CMSG_DATA(c);
      for (size_t i = 0; i < count; i++) {
        int fd;
        std::memcpy(&fd, p + i * sizeof(int), sizeof(int));
        fds.emplace_back(fd);
      }
    }

    if (got == 0 && fds.empty()) {
      // SOCK_SEQPACKET reports the peer's close as a zero-length read; send() refuses empty
      // messages so the two cannot be confused.
      Shutdown();
      Emit({Napi::String::New(env, "close")});
      return;
    }
    const char* code = nullptr;
    std::string message;
    if (msg.msg_flags & MSG_CTRUNC) {
      code = "ERR_TOO_MANY_DESCRIPTORS";
      message = "Control data truncated (MSG_CTRUNC): the peer sent more than " + std::to_string(max_fds_) +
                " descriptors; the " + std::to_string(fds.size()) + " that arrived were closed";
    } else if (msg.msg_flags & MSG_TRUNC || static_cast<size_t>(got) > max_message_) {
      code = "ERR_MESSAGE_TOO_LARGE";
      message = "Message larger than " + std::to_string(max_message_) + " bytes dropped; its descriptors were closed";
    } else if (fds.size() > max_fds_) {
      code = "ERR_TOO_MANY_DESCRIPTORS";
      message = "Message carried " + std::to_string(fds.size()) + " descriptors, more than " + std::to_string(max_fds_) + "; they were closed";
    }
    if (code != nullptr) {
      fds.clear();
      Napi::Error err = CodedError(env, code, message);
      // The bytes of a message whose descriptors were lost are still whole: hand them over so
      // the receiver can answer it (e.g. fail that one job) instead of leaving its sender waiting.
      if (std::strcmp(code, "ERR_TOO_MANY_DESCRIPTORS") == 0) {
        err.Set("data", Napi::Buffer<uint8_t>::Copy(env, receive_buffer_.data(), static_cast<size_t>(got)));
      }
      Emit({Napi::String::New(env, "error"), err.Value()});
      continue;
    }

    Napi::Buffer<uint8_t> data = Napi::Buffer<uint8_t>::Copy(env, receive_buffer_.data(), static_cast<size_t>(got));
    Napi::Array list = Napi::Array::New(env, fds.size());
    for (size_t i = 0; i < fds.size(); i++) list.Set(static_cast<uint32_t>(i), Napi::Number::New(env, fds[i].Get()));
    // From here the listener owns the descriptors.
    for (UniqueFd& fd : fds) fd.Release();
    Emit({Napi::String::New(env, "message"), data, list});
  }
}

int Channel::SendNow(const uint8_t* data, size_t length, const int* fds, size_t count) {
  struct iovec iov = {const_cast<uint8_t*>(data), length};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsCeiling)];
  if (count > 0) {
    std::memset(control, 0, sizeof(control));
    msg.msg_control = control;
    msg.msg_controllen = ControlSpace(count);
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * count);
    std::memcpy(CMSG_DATA(c), fds, sizeof(int) * count);
  }
  for (;;) {
    // MSG_NOSIGNAL: a peer that left gives EPIPE, not a SIGPIPE that kills the process.
    ssize_t r = sendmsg(fd_.Get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r >= 0) return 0;
    if (errno != EINTR) return -errno;
  }
}

Napi::Value Channel::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!open_) throw CodedError(env, "ERR_CHANNEL_CLOSED", "The channel is closed");
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "The \"data\" argument must be a Buffer or Uint8Array");
  Napi::TypedArray view = info[0].As<Napi::TypedArray>();
  const uint8_t* data = static_cast<const uint8_t*>(view.ArrayBuffer().Data()) + view.ByteOffset();
  size_t length = view.ByteLength();
  if (length == 0) throw Napi::RangeError::New(env, "A message must carry at least one byte (an empty SEQPACKET message reads as end-of-file)");
  if (length > max_message_) throw CodedError(env, "ERR_MESSAGE_TOO_LARGE", "Message of " + std::to_string(length) + " bytes exceeds maxMessageBytes (" + std::to_string(max_message_) + ")");

  std::vector<int> fds;
  if (!info[1].IsUndefined() && !info[1].IsNull()) {
    if (!info[1].IsArray()) throw Napi::TypeError::New(env, "The \"fds\" argument must be an array of descriptors");
    Napi::Array list = info[1].As<Napi::Array>();
    if (list.Length() > max_fds_) throw CodedError(env, "ERR_TOO_MANY_DESCRIPTORS", "At most " + std::to_string(max_fds_) + " descriptors per message");
    for (uint32_t i = 0; i < list.Length(); i++) {
      Napi::Value v = list.Get(i);
      if (!v.IsNumber()) throw Napi::TypeError::New(env, "Descriptors must be integers");
      double d = v.As<Napi::Number>().DoubleValue();
      if (d < 0 || d > INT32_MAX || static_cast<double>(static_cast<int>(d)) != d) throw Napi::RangeError::New(env, "Descriptors must be non-negative integers");
      fds.push_back(static_cast<int>(d));
    }
  }

  if (queue_.empty()) {
    int r = SendNow(data, length, fds.data(), fds.size());
    if (r == 0) return Napi::Boolean::New(env, true);
    if (r != -EAGAIN && r != -EWOULDBLOCK) ThrowErrno(env, -r, "sendmsg");
  }
  // The socket is full (or earlier messages wait): queue a copy, with our own duplicates of the
  // descriptors, and send it in order when the socket becomes writable.
  Pending pending;
  pending.data.assign(data, data + length);
  for (int fd : fds) {
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (copy < 0) ThrowErrno(env, errno, "fcntl(F_DUPFD_CLOEXEC)");
    pending.fds.emplace_back(copy);
  }
  queue_.push_back(std::move(pending));
  UpdatePoll();
  return Napi::Boolean::New(env, false);
}

void Channel::FlushQueue() {
  Napi::Env env = Env();
  bool flushed = false;
  while (!queue_.empty() && open_) {
    Pending& front = queue_.front();
    std::vector<int> fds;
    for (const UniqueFd& fd : front.fds) fds.push_back(fd.Get());
    int r = SendNow(front.data.data(), front.data.size(), fds.data(), fds.size());
    if (r == -EAGAIN || r == -EWOULDBLOCK) break;
    if (r < 0) {
      Napi::Error err = ErrnoError(env, -r, "sendmsg");
      Shutdown();
      Emit({Napi::String::New(env, "error"), err.Value()});
      Emit({Napi::String::New(env, "close")});
      return;
    }
    queue_.pop_front();  // closes our duplicates
    flushed = queue_.empty();
  }
  UpdatePoll();
  if (flushed && open_) Emit({Napi::String::New(env, "drain")});
}

Napi::Value Channel::Close(const Napi::CallbackInfo& info) {
  Shutdown();
  return info.Env().Undefined();
}

Napi::Value Channel::Peer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!open_) throw CodedError(env, "ERR_CHANNEL_CLOSED", "The channel is closed");
  struct ucred cred = {};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd_.Get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) ThrowErrno(env, errno, "getsockopt(SO_PEERCRED)");
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, cred.pid));  // 0: the peer is in another pid namespace
  out.Set("uid", Napi::Number::New(env, cred.uid));
  out.Set("gid", Napi::Number::New(env, cred.gid));
  return out;
}

Napi::Value Channel::Ref(const Napi::CallbackInfo& info) {
  if (poll_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
  return info.Env().Undefined();
}

Napi::Value Channel::Unref(const Napi::CallbackInfo& info) {
  if (poll_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  return info.Env().Undefined();
}

Napi::Value Channel::PendingCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(queue_.size()));
}

namespace {

Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0) ThrowErrno(info.Env(), errno, "socketpair");
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, Napi::Number::New(info.Env(), sv[0]));
  out.Set(1u, Napi::Number::New(info.Env(), sv[1]));
  return out;
}

// Connecting a Unix socket completes at once or fails at once (ECONNREFUSED, ENOENT, EAGAIN
// when the backlog is full), so a synchronous connect does not stall the loop.
Napi::Value ConnectSeqpacket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "The \"path\" argument must be a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) ThrowErrno(env, ENAMETOOLONG, "connect");
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  UniqueFd fd(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd.Valid()) ThrowErrno(env, errno, "socket");
  int r;
  do r = connect(fd.Get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)); while (r < 0 && errno == EINTR);
  if (r < 0) ThrowErrno(env, errno, "connect");
  return Napi::Number::New(env, fd.Release());
}

}  // namespace

void InitChannel(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeChannel", Channel::Init(env));
  exports.Set("socketPair", Napi::Function::New(env, SocketPair, "socketPair"));
  exports.Set("connectSeqpacket", Napi::Function::New(env, ConnectSeqpacket, "connectSeqpacket"));
}

}  // namespace memfd_pool
