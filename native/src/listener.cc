#include "listener.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "errors.h"

namespace memfd_pool {

namespace {

// -errno when the path holds a live listener or something that is not a socket; 0 after
// removing a stale socket file left by a process that died without cleaning up.
int RemoveIfStale(const struct sockaddr_un& addr) {
  struct stat st;
  if (lstat(addr.sun_path, &st) < 0) return errno == ENOENT ? 0 : -errno;
  if (!S_ISSOCK(st.st_mode)) return -EADDRINUSE;  // never delete a file that is not a socket
  UniqueFd probe(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!probe.Valid()) return -errno;
  if (connect(probe.Get(), reinterpret_cast<const struct sockaddr*>(&addr), sizeof(addr)) == 0) return -EADDRINUSE;
  if (errno != ECONNREFUSED) return -EADDRINUSE;
  if (unlink(addr.sun_path) < 0 && errno != ENOENT) return -errno;
  return 0;
}

}  // namespace

Napi::Function Listener::Init(Napi::Env env) {
  return DefineClass(env, "NativeListener", {InstanceMethod("close", &Listener::Close), InstanceMethod("resume", &Listener::Resume)});
}

// new NativeListener(path, mode, onConnection(fd))
Listener::Listener(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Listener>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "The \"path\" argument must be a string");
  path_ = info[0].As<Napi::String>().Utf8Value();
  int mode = ArgFd(info, 1, "mode");
  if (mode > 07777) throw Napi::RangeError::New(env, "The \"mode\" argument must be a file mode");
  if (!info[2].IsFunction()) throw Napi::TypeError::New(env, "The \"onConnection\" argument must be a function");

  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path_.empty() || path_.size() >= sizeof(addr.sun_path)) ThrowErrno(env, ENAMETOOLONG, "bind");
  std::memcpy(addr.sun_path, path_.c_str(), path_.size());

  UniqueFd fd(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.Valid()) ThrowErrno(env, errno, "socket");
  if (bind(fd.Get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) < 0) {
    if (errno != EADDRINUSE) ThrowErrno(env, errno, "bind");
    int r = RemoveIfStale(addr);
    if (r < 0) ThrowErrno(env, -r, "bind");
    if (bind(fd.Get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) < 0) ThrowErrno(env, errno, "bind");
  }
  // bind() created the file with the process umask; tighten it before anyone can be accepted
  // (listen() has not run yet, so no connection can arrive in between). The caller keeps the
  // socket in a 0700 folder as well.
  struct stat st;
  if (chmod(path_.c_str(), static_cast<mode_t>(mode)) < 0 || lstat(path_.c_str(), &st) < 0) {
    int err = errno;
    unlink(path_.c_str());
    ThrowErrno(env, err, "chmod");
  }
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  if (listen(fd.Get(), 128) < 0) {
    int err = errno;
    unlink(path_.c_str());
    ThrowErrno(env, err, "listen");
  }

  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  poll_ = new uv_poll_t;
  int r = uv_poll_init_socket(loop, poll_, fd.Get());
  if (r < 0) {
    delete poll_;
    poll_ = nullptr;
    unlink(path_.c_str());
    throw CodedError(env, uv_err_name(r), std::string("uv_poll_init_socket: ") + uv_strerror(r));
  }
  poll_->data = this;
  fd_ = std::move(fd);
  listener_ = Napi::Persistent(info[2].As<Napi::Function>());
  open_ = true;
  Napi::ObjectWrap<Listener>::Ref();
  uv_poll_start(poll_, UV_READABLE, &Listener::OnPoll);
}

Listener::~Listener() { Shutdown(); }

void Listener::Shutdown() {
  if (poll_ != nullptr) {
    uv_poll_stop(poll_);
    poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
  }
  if (fd_.Valid()) {
    struct stat st;
    if (lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) unlink(path_.c_str());
    fd_.Reset();
  }
  if (open_) {
    open_ = false;
    Napi::ObjectWrap<Listener>::Unref();
  }
}

void Listener::OnPoll(uv_poll_t* handle, int status, int events) {
  Listener* self = static_cast<Listener*>(handle->data);
  if (self == nullptr || status < 0) return;
  Napi::Env env = self->Env();
  Napi::HandleScope scope(env);
  Napi::Object keep = self->Value();
  // Accept everything pending (up to a bound per wake-up); EAGAIN ends the batch.
  for (int n = 0; n < 64 && self->open_; n++) {
    int fd = accept4(self->fd_.Get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      int err = errno;
      if (err == EINTR || err == ECONNABORTED) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) return;
      // EMFILE/ENFILE/ENOBUFS/ENOMEM: the connection stays in the backlog and the socket stays
      // readable, so a level-triggered poll would wake us again at once, forever (a core at 100 %
      // while the process is at its open-file limit). Stop polling and tell JavaScript, which
      // calls resume() after a back-off, when descriptors may have been freed.
      uv_poll_stop(self->poll_);
      self->paused_ = true;
      try {
        self->listener_.MakeCallback(keep, {Napi::Number::New(env, -err)});
      } catch (const Napi::Error& e) {
        napi_fatal_exception(env, e.Value());
      }
      return;
    }
    try {
      self->listener_.MakeCallback(keep, {Napi::Number::New(env, fd)});
    } catch (const Napi::Error& e) {
      napi_fatal_exception(env, e.Value());
    }
  }
  (void)keep;
}

// Polls again after OnPoll paused on a resource error; accepting then retries the backlog.
Napi::Value Listener::Resume(const Napi::CallbackInfo& info) {
  if (open_ && paused_ && poll_ != nullptr) {
    paused_ = false;
    uv_poll_start(poll_, UV_READABLE, &Listener::OnPoll);
  }
  return info.Env().Undefined();
}

Napi::Value Listener::Close(const Napi::CallbackInfo& info) {
  Shutdown();
  return info.Env().Undefined();
}

void InitListener(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeListener", Listener::Init(env));
}

}  // namespace memfd_pool
