#include "memfd.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "errors.h"
#include "unique-fd.h"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U  // Linux 6.3
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010  // Linux 5.1
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020  // Linux 6.3
#endif

namespace memfd_pool {

namespace {

struct SealName {
  int bit;
  const char* name;
};

// Order is the order getSeals() reports them in.
constexpr SealName kSeals[] = {
    {F_SEAL_SEAL, "seal"},
    {F_SEAL_SHRINK, "shrink"},
    {F_SEAL_GROW, "grow"},
    {F_SEAL_WRITE, "write"},
    {F_SEAL_FUTURE_WRITE, "future-write"},
    {F_SEAL_EXEC, "exec"},
};

Napi::Array SealsToArray(Napi::Env env, int seals) {
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  for (const SealName& s : kSeals) {
    if (seals & s.bit) out.Set(i++, s.name);
  }
  return out;
}

int SealsFromArray(Napi::Env env, Napi::Value value) {
  if (!value.IsArray()) throw Napi::TypeError::New(env, "The \"seals\" argument must be an array of seal names");
  Napi::Array names = value.As<Napi::Array>();
  int seals = 0;
  for (uint32_t i = 0; i < names.Length(); i++) {
    Napi::Value v = names.Get(i);
    if (!v.IsString()) throw Napi::TypeError::New(env, "Seal names must be strings");
    std::string name = v.As<Napi::String>().Utf8Value();
    bool found = false;
    for (const SealName& s : kSeals) {
      if (name == s.name) {
        seals |= s.bit;
        found = true;
      }
    }
    if (!found) throw Napi::TypeError::New(env, "Unknown seal \"" + name + "\" (expected seal, shrink, grow, write, future-write, exec)");
  }
  return seals;
}

Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "The \"name\" argument must be a string");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  // memfd_create(2): the name is at most 249 bytes and may not contain NUL.
  if (name.size() > 249 || name.find('\0') != std::string::npos) {
    throw Napi::RangeError::New(env, "The \"name\" argument must be at most 249 bytes without NUL");
  }
  bool huge = false;
  if (info[1].IsObject()) huge = OptBool(info[1].As<Napi::Object>(), "hugePages", false);

  unsigned base = MFD_CLOEXEC | MFD_ALLOW_SEALING | (huge ? MFD_HUGETLB : 0);
  // MFD_NOEXEC_SEAL (6.3+) makes the memory non-executable for good and silences the kernel's
  // "memfd_create() called without MFD_EXEC or MFD_NOEXEC_SEAL" warning. Older kernels answer
  // EINVAL: retry without it, but never without MFD_ALLOW_SEALING (the bun#30019 review lesson).
  int fd = memfd_create(name.c_str(), base | MFD_NOEXEC_SEAL);
  if (fd < 0 && errno == EINVAL) fd = memfd_create(name.c_str(), base);
  if (fd < 0) ThrowErrno(env, errno, "memfd_create");
  return Napi::Number::New(env, fd);
}

Napi::Value Ftruncate(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  int64_t size = ArgSize(info, 1, "size");
  int r;
  do r = ftruncate(fd, static_cast<off_t>(size)); while (r < 0 && errno == EINTR);
  if (r < 0) ThrowErrno(info.Env(), errno, "ftruncate");
  return info.Env().Undefined();
}

Napi::Value FileSize(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  struct stat st;
  if (fstat(fd, &st) < 0) ThrowErrno(info.Env(), errno, "fstat");
  return Napi::Number::New(info.Env(), static_cast<double>(st.st_size));
}

// Reserves pages now so a later write through a mapping cannot SIGBUS when memory runs short
// (ray#16824: MAP_POPULATE alone was not enough). Mode 0 also extends the size if needed.
Napi::Value Allocate(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  int64_t offset = ArgSize(info, 1, "offset");
  int64_t length = ArgSize(info, 2, "length");
  if (length == 0) return info.Env().Undefined();
  int r;
  do r = fallocate(fd, 0, offset, length); while (r < 0 && errno == EINTR);
  if (r < 0) ThrowErrno(info.Env(), errno, "fallocate");
  return info.Env().Undefined();
}

Napi::Value AddSeals(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  int seals = SealsFromArray(env, info[1]);
  int r = fcntl(fd, F_ADD_SEALS, seals);
  // A kernel older than 5.1 rejects F_SEAL_FUTURE_WRITE with EINVAL: fall back to F_SEAL_WRITE,
  // which gives readers the same guarantee but needs every writable mapping gone (else EBUSY).
  if (r < 0 && errno == EINVAL && (seals & F_SEAL_FUTURE_WRITE)) {
    r = fcntl(fd, F_ADD_SEALS, (seals & ~F_SEAL_FUTURE_WRITE) | F_SEAL_WRITE);
  }
  if (r < 0) ThrowErrno(env, errno, "fcntl(F_ADD_SEALS)");
  int now = fcntl(fd, F_GET_SEALS);
  if (now < 0) ThrowErrno(env, errno, "fcntl(F_GET_SEALS)");
  return SealsToArray(env, now);
}

Napi::Value GetSeals(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0) ThrowErrno(info.Env(), errno, "fcntl(F_GET_SEALS)");
  return SealsToArray(info.Env(), seals);
}

// A new open file description for the same memory, opened O_RDONLY through /proc/self/fd:
// a process holding only this descriptor cannot map it writable (EACCES), whatever the seals.
Napi::Value Reopen(const Napi::CallbackInfo& info, int access) {
  int fd = ArgFd(info, 0, "fd");
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  int copy;
  do copy = open(path.c_str(), access | O_CLOEXEC); while (copy < 0 && errno == EINTR);
  if (copy < 0) ThrowErrno(info.Env(), errno, "open");
  return Napi::Number::New(info.Env(), copy);
}

Napi::Value ReopenReadOnly(const Napi::CallbackInfo& info) { return Reopen(info, O_RDONLY); }

// The same, O_RDWR: a writable descriptor with an open file description of its own, so that what
// its holder does to it (O_APPEND through F_SETFL, lseek) reaches nobody else's descriptor, as a
// dup() would. The inode's permissions decide, not the source descriptor's mode.
Napi::Value ReopenReadWrite(const Napi::CallbackInfo& info) { return Reopen(info, O_RDWR); }

Napi::Value Dup(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) ThrowErrno(info.Env(), errno, "fcntl(F_DUPFD_CLOEXEC)");
  return Napi::Number::New(info.Env(), copy);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  // EINTR from close still released the descriptor on Linux; retrying could close a reused number.
  if (close(fd) < 0 && errno != EINTR) ThrowErrno(info.Env(), errno, "close");
  return info.Env().Undefined();
}

// Whether the descriptor was opened for writing (O_RDWR / O_WRONLY): lets a receiver check that
// a descriptor meant to be read-only really is.
Napi::Value AccessMode(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) ThrowErrno(info.Env(), errno, "fcntl(F_GETFL)");
  switch (flags & O_ACCMODE) {
    case O_RDONLY: return Napi::String::New(info.Env(), "r");
    case O_WRONLY: return Napi::String::New(info.Env(), "w");
    default: return Napi::String::New(info.Env(), "rw");
  }
}

}  // namespace

int SetCloexecNonblock(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return -errno;
  int fdflags = fcntl(fd, F_GETFD);
  if (fdflags < 0 || fcntl(fd, F_SETFD, fdflags | FD_CLOEXEC) < 0) return -errno;
  return 0;
}

void InitMemfd(Napi::Env env, Napi::Object exports) {
  exports.Set("memfdCreate", Napi::Function::New(env, MemfdCreate, "memfdCreate"));
  exports.Set("ftruncate", Napi::Function::New(env, Ftruncate, "ftruncate"));
  exports.Set("fileSize", Napi::Function::New(env, FileSize, "fileSize"));
  exports.Set("allocate", Napi::Function::New(env, Allocate, "allocate"));
  exports.Set("addSeals", Napi::Function::New(env, AddSeals, "addSeals"));
  exports.Set("getSeals", Napi::Function::New(env, GetSeals, "getSeals"));
  exports.Set("reopenReadOnly", Napi::Function::New(env, ReopenReadOnly, "reopenReadOnly"));
  exports.Set("reopenReadWrite", Napi::Function::New(env, ReopenReadWrite, "reopenReadWrite"));
  exports.Set("dup", Napi::Function::New(env, Dup, "dup"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("accessMode", Napi::Function::New(env, AccessMode, "accessMode"));
}

}  // namespace memfd_pool
