#pragma once
// An append-only array kept in fixed 2 MiB chunks, for the millions of day lines a replay creates.
// Growing never moves an element (a std::vector of 3.6M lines re-copies hundreds of MB at each
// doubling and faults in twice the memory), and each chunk asks the kernel for a transparent huge
// page (madvise), so filling 2 MiB costs one page fault instead of 512. Elements are trivially
// copyable and destructible: they are constructed by copy and never destroyed one by one.
#include <sys/mman.h>

#include <cstdlib>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

namespace slap::billing {

template <typename T>
class ChunkedVector {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);

 public:
  static constexpr size_t kChunkBytes = size_t{2} << 20;  // one x86-64 huge page
  static constexpr size_t kPerChunk = kChunkBytes / sizeof(T);
  static_assert(kPerChunk > 0 && alignof(T) <= kChunkBytes);

  ChunkedVector() = default;
  ChunkedVector(const ChunkedVector&) = delete;
  ChunkedVector& operator=(const ChunkedVector&) = delete;

  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  T& operator[](size_t i) noexcept { return chunks_[i / kPerChunk][i % kPerChunk]; }
  const T& operator[](size_t i) const noexcept { return chunks_[i / kPerChunk][i % kPerChunk]; }
  T& back() noexcept { return (*this)[size_ - 1]; }

  void push_back(const T& v) {
    if (size_ == chunks_.size() * kPerChunk) chunks_.push_back(new_chunk());
    ::new (&chunks_[size_ / kPerChunk][size_ % kPerChunk]) T(v);
    ++size_;
  }
  // Frees every chunk.
  void clear() noexcept {
    chunks_.clear();
    size_ = 0;
  }

 private:
  struct Free {
    void operator()(T* p) const noexcept { std::free(p); }
  };
  using Chunk = std::unique_ptr<T[], Free>;
  static Chunk new_chunk() {
    void* p = std::aligned_alloc(kChunkBytes, kChunkBytes);
    if (p == nullptr) throw std::bad_alloc();
    // Advice only: without huge pages (disabled, or none free) the chunk still works, page by page.
    (void)::madvise(p, kChunkBytes, MADV_HUGEPAGE);
    return Chunk(static_cast<T*>(p));
  }
  std::vector<Chunk> chunks_;
  size_t size_ = 0;
};

}  // namespace slap::billing
