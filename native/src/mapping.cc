#include "mapping.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <unordered_map>

#include "errors.h"

namespace memfd_pool {

namespace {

// What the finalizer needs to undo one mmap(): the page-aligned start and length actually mapped.
struct Mapping {
  void* base;
  size_t length;
  int64_t accounted;
  bool released;  // the file's pages were swapped for anonymous ones by release()
};

// Per-environment index from a Buffer's data pointer to its mapping, so release() can find the
// mapping behind a Buffer it is given.
struct MappingRegistry {
  std::unordered_map<const uint8_t*, Mapping*> byData;
};

MappingRegistry& Registry(Napi::Env env) {
  MappingRegistry* registry = env.GetInstanceData<MappingRegistry>();
  if (registry == nullptr) {
    registry = new MappingRegistry();
    env.SetInstanceData(registry);
  }
  return *registry;
}

void Unmap(Napi::Env env, uint8_t* data, Mapping* mapping) {
  // The range stays mapped until here, so no newer mapping can share the address: the check
  // below is belt and braces.
  auto& byData = Registry(env).byData;
  auto found = byData.find(data);
  if (found != byData.end() && found->second == mapping) byData.erase(found);
  munmap(mapping->base, mapping->length);
  // Tell V8 the memory is gone, undoing the adjustment made when the Buffer was created.
  Napi::MemoryManagement::AdjustExternalMemory(env, -mapping->accounted);
  delete mapping;
}

Napi::Value MapShared(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  if (!info[1].IsObject()) throw Napi::TypeError::New(env, "The \"options\" argument must be an object with a length");
  Napi::Object options = info[1].As<Napi::Object>();
  if (options.Get("length").IsUndefined()) throw Napi::TypeError::New(env, "The \"length\" option is required");
  int64_t length = OptSize(options, "length", 0);
  int64_t offset = OptSize(options, "offset", 0);
  bool writable = OptBool(options, "writable", false);
  bool populate = OptBool(options, "populate", false);

  // A Buffer cannot be longer than buffer.constants.MAX_LENGTH (4 GiB on Node 20); map larger
  // files in windows with `offset`.
  if (static_cast<uint64_t>(length) > 4294967296ULL) {
    throw Napi::RangeError::New(env, "A mapping is at most 4 GiB long (buffer.constants.MAX_LENGTH); map larger files in windows with `offset`");
  }
  if (length == 0) return Napi::Buffer<uint8_t>::New(env, 0);

  // mmap wants a page-aligned offset: map from the page boundary below and hand out the view
  // that starts at the requested byte.
  static const int64_t page = sysconf(_SC_PAGESIZE);
  int64_t aligned = offset - (offset % page);
  size_t delta = static_cast<size_t>(offset - aligned);
  size_t mapped = static_cast<size_t>(length) + delta;

  int prot = PROT_READ | (writable ? PROT_WRITE : 0);
  int flags = MAP_SHARED | (populate ? MAP_POPULATE : 0);
  void* base = mmap(nullptr, mapped, prot, flags, fd, aligned);
  // Before Linux 6.7 a write-sealed memfd could not be mapped MAP_SHARED even read-only (EPERM).
  // A private read-only mapping of it shows the same bytes, and they can no longer change.
  if (base == MAP_FAILED && errno == EPERM && !writable) {
    base = mmap(nullptr, mapped, prot, (flags & ~MAP_SHARED) | MAP_PRIVATE, fd, aligned);
  }
  if (base == MAP_FAILED) ThrowErrno(env, errno, "mmap");

  Mapping* mapping = new Mapping{base, mapped, static_cast<int64_t>(mapped), false};
  Napi::Buffer<uint8_t> buffer;
  try {
    buffer = Napi::Buffer<uint8_t>::New(env, static_cast<uint8_t*>(base) + delta, static_cast<size_t>(length), Unmap, mapping);
  } catch (...) {
    munmap(base, mapped);
    delete mapping;
    throw;
  }
  Registry(env).byData[static_cast<uint8_t*>(base) + delta] = mapping;
  // Let the garbage collector know how much memory the Buffer holds, so unreferenced mappings
  // are collected (and unmapped) promptly rather than accumulating.
  Napi::MemoryManagement::AdjustExternalMemory(env, mapping->accounted);
  return buffer;
}

// Lets go of the file now instead of at collection: the range is replaced in place (MAP_FIXED)
// by private anonymous zero pages, so the memfd's pages are no longer referenced (its memory can
// be freed, F_SEAL_WRITE no longer sees a writable mapping, /proc/PID/maps no longer lists it).
// The Buffer is deliberately not detached: code that captured its pointer or its length (an
// async zlib call in the thread pool, a stream that computed offsets) keeps valid memory and
// reads zeros instead of faulting on an unmapped page or a detached (null) pointer. The range
// is unmapped when the Buffer is collected. Returns false when already released.
Napi::Value Release(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "The \"buffer\" argument must be a Buffer returned by mapShared");
  Napi::TypedArray view = info[0].As<Napi::TypedArray>();
  const uint8_t* data = static_cast<const uint8_t*>(view.ArrayBuffer().Data()) + view.ByteOffset();
  auto& byData = Registry(env).byData;
  auto found = byData.find(data);
  if (found == byData.end()) throw Napi::TypeError::New(env, "The Buffer does not own a mapping made by mapShared");
  Mapping* mapping = found->second;
  if (mapping->released) return Napi::Boolean::New(env, false);
  void* replaced = mmap(mapping->base, mapping->length, PROT_READ | PROT_WRITE,
                        MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (replaced == MAP_FAILED) ThrowErrno(env, errno, "mmap(MAP_FIXED)");
  mapping->released = true;
  return Napi::Boolean::New(env, true);
}

}  // namespace

void InitMapping(Napi::Env env, Napi::Object exports) {
  exports.Set("mapShared", Napi::Function::New(env, MapShared, "mapShared"));
  exports.Set("release", Napi::Function::New(env, Release, "release"));
}

}  // namespace memfd_pool
