// completion_pool.cpp — memory for the Client's per-request objects
// (request.hpp, detail::completion_allocate).
//
// Why: a request's completion and its future's shared state are allocated by
// the thread that calls request() and freed by the client's I/O thread (or
// the other way round). glibc's per-thread cache never sees such a block come
// back to the thread that allocated it, so every one of them went through the
// locked arena path (_int_malloc/_int_free/malloc_consolidate: ~15 % of the
// client's CPU in rr_bench). Here each thread keeps its own small stack of
// free blocks per size class, and full stacks move between threads as whole
// batches of kBatch blocks under one short mutex hold.
//
// Bounds: a thread caches at most 2 * kBatch blocks per class; the shared
// depot keeps at most kDepotBatches batches per class, the rest go back to
// the heap. A thread's cache returns to the depot when the thread ends.
// Under AddressSanitizer every block comes from and goes to the heap, so
// use-after-free is still caught.
#include <courier/request.hpp>

#include <cstddef>
#include <mutex>
#include <new>
#include <vector>

namespace courier::detail {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kPooled = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kPooled = false;
#else
constexpr bool kPooled = true;
#endif
#else
constexpr bool kPooled = true;
#endif

constexpr std::size_t kGranule = 32;   // class k holds blocks of (k + 1) * kGranule bytes
constexpr std::size_t kClasses = 16;   // up to 512 bytes; larger blocks use the heap
constexpr std::size_t kBatch = 32;     // blocks moved between a thread and the depot at once
constexpr std::size_t kDepotBatches = 64;  // per class: 2048 blocks, at most 1 MiB for class 15

std::size_t class_of(std::size_t size) { return (size + kGranule - 1) / kGranule - 1; }
std::size_t block_size(std::size_t cls) { return (cls + 1) * kGranule; }

// A batch is kBatch free blocks chained through their first word.
struct FreeBlock {
  FreeBlock* next;
};

// Batches shared by all threads, per class. Leaked on purpose: threads that
// end after static destruction still return their caches here.
struct Depot {
  std::mutex mu;
  std::vector<FreeBlock*> batches;  // guarded by mu; capacity reserved up front
};

Depot* depots() {
  static Depot* d = [] {
    auto* p = new Depot[kClasses];
    for (std::size_t i = 0; i < kClasses; ++i) p[i].batches.reserve(kDepotBatches);
    return p;
  }();
  return d;
}

void free_chain(FreeBlock* b) noexcept {
  while (b) {
    FreeBlock* next = b->next;
    ::operator delete(b);
    b = next;
  }
}

// Hands a chain of kBatch blocks to the depot, or to the heap when it is full.
void give_batch(std::size_t cls, FreeBlock* chain) noexcept {
  Depot& d = depots()[cls];
  {
    std::lock_guard<std::mutex> lock(d.mu);
    if (d.batches.size() < kDepotBatches) {
      d.batches.push_back(chain);  // never reallocates: capacity reserved
      return;
    }
  }
  free_chain(chain);
}

FreeBlock* take_batch(std::size_t cls) noexcept {
  Depot& d = depots()[cls];
  std::lock_guard<std::mutex> lock(d.mu);
  if (d.batches.empty()) return nullptr;
  FreeBlock* chain = d.batches.back();
  d.batches.pop_back();
  return chain;
}

// Set when this thread's cache is destroyed (thread exit): blocks freed
// later, e.g. by other thread_local destructors, go to the heap.
thread_local bool t_cache_gone = false;

// One thread's free blocks: a stack of at most 2 * kBatch per class.
struct ThreadCache {
  struct Bin {
    void* items[2 * kBatch];
    std::size_t count = 0;
  };
  Bin bins[kClasses];

  ~ThreadCache() {
    t_cache_gone = true;
    for (std::size_t cls = 0; cls < kClasses; ++cls) {
      Bin& bin = bins[cls];
      while (bin.count >= kBatch) give_batch(cls, pop_chain(bin));
      while (bin.count > 0) ::operator delete(bin.items[--bin.count]);
    }
  }

  // Takes the top kBatch blocks of `bin` as a chain.
  static FreeBlock* pop_chain(Bin& bin) noexcept {
    FreeBlock* chain = nullptr;
    for (std::size_t i = 0; i < kBatch; ++i) {
      auto* b = static_cast<FreeBlock*>(bin.items[--bin.count]);
      b->next = chain;
      chain = b;
    }
    return chain;
  }
};

// Returns: this thread's cache, or nullptr once it is gone.
ThreadCache* cache() {
  if (t_cache_gone) return nullptr;
  thread_local ThreadCache c;
  return &c;
}

}  // namespace

void* completion_allocate(std::size_t size) {
  if (!kPooled || size == 0 || size > kClasses * kGranule) return ::operator new(size);
  const std::size_t cls = class_of(size);
  ThreadCache* c = cache();
  if (!c) return ::operator new(block_size(cls));
  ThreadCache::Bin& bin = c->bins[cls];
  if (bin.count == 0) {
    FreeBlock* chain = take_batch(cls);
    if (!chain) return ::operator new(block_size(cls));
    while (chain) {
      FreeBlock* next = chain->next;
      bin.items[bin.count++] = chain;
      chain = next;
    }
  }
  return bin.items[--bin.count];
}

void completion_deallocate(void* p, std::size_t size) noexcept {
  if (!p) return;
  if (!kPooled || size == 0 || size > kClasses * kGranule) {
    ::operator delete(p);
    return;
  }
  const std::size_t cls = class_of(size);
  ThreadCache* c = cache();
  if (!c) {
    ::operator delete(p);
    return;
  }
  ThreadCache::Bin& bin = c->bins[cls];
  if (bin.count == 2 * kBatch) give_batch(cls, ThreadCache::pop_chain(bin));
  bin.items[bin.count++] = p;
}

}  // namespace courier::detail
