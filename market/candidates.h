#pragma once
// An ordered sequence cut into short sorted chunks (one level of a B+ tree's leaves): the matcher
// walks it in order from the head; inserting or erasing one element shifts at most one chunk, and
// finding a place is a binary search over the chunks' last elements, then inside one chunk. It
// holds the capacity index's orders and the instance registry's hosts of each kind.
//
// Why not one sorted vector: an allocation moves a computer from its (price, load) group to the
// next load's group, past every computer of that price as loaded as it was. In a fleet where
// thousands of computers share a price, a flat vector rotated thousands of entries per order and
// allocation (profiled: half of the deciding thread's time, 4,000 computers of one price over
// HTTP), linear in the fleet's size where DESIGN.md asks for logarithmic.
#include <algorithm>
#include <cassert>
#include <cstddef>
#include <vector>

namespace slap::market {

template <class T, class Less>
class ChunkedSortedSequence {
 public:
  static constexpr size_t kMaxChunk = 128;  // split above this
  static constexpr size_t kMinChunk = 16;   // below this, merged with a neighbour when they fit

  class const_iterator {
   public:
    using value_type = T;
    using reference = const T&;
    using pointer = const T*;
    using difference_type = std::ptrdiff_t;
    using iterator_category = std::forward_iterator_tag;
    const_iterator() = default;
    reference operator*() const { return (*chunks_)[chunk_][at_]; }
    pointer operator->() const { return &**this; }
    const_iterator& operator++() {
      if (++at_ == (*chunks_)[chunk_].size()) {
        ++chunk_;
        at_ = 0;
      }
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++*this;
      return old;
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) { return a.chunk_ == b.chunk_ && a.at_ == b.at_; }

   private:
    friend class ChunkedSortedSequence;
    const_iterator(const std::vector<std::vector<T>>* chunks, size_t chunk, size_t at) : chunks_(chunks), chunk_(chunk), at_(at) {}
    const std::vector<std::vector<T>>* chunks_ = nullptr;
    size_t chunk_ = 0, at_ = 0;
  };

  const_iterator begin() const { return {&chunks_, 0, 0}; }
  const_iterator end() const { return {&chunks_, chunks_.size(), 0}; }
  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  // Inserts `v` where `less` sorts it (after the elements equivalent to it).
  void insert(const T& v, const Less& less) {
    if (chunks_.empty()) {
      chunks_.emplace_back().push_back(v);
      lasts_.push_back(v);
      size_ = 1;
      return;
    }
    size_t c = chunk_for(v, less);
    if (c == chunks_.size()) --c;  // after everything: the last chunk grows
    auto& chunk = chunks_[c];
    chunk.insert(std::upper_bound(chunk.begin(), chunk.end(), v, less), v);
    lasts_[c] = chunk.back();
    ++size_;
    if (chunk.size() > kMaxChunk) {
      std::vector<T> upper(chunk.begin() + static_cast<std::ptrdiff_t>(chunk.size() / 2), chunk.end());
      chunk.resize(chunk.size() / 2);
      lasts_[c] = chunk.back();
      lasts_.insert(lasts_.begin() + static_cast<std::ptrdiff_t>(c) + 1, upper.back());
      chunks_.insert(chunks_.begin() + static_cast<std::ptrdiff_t>(c) + 1, std::move(upper));
    }
  }

  // Whether an element equivalent to `v` is there.
  bool contains(const T& v, const Less& less) const {
    const size_t c = chunk_for(v, less);
    if (c == chunks_.size()) return false;
    auto it = std::lower_bound(chunks_[c].begin(), chunks_[c].end(), v, less);
    return it != chunks_[c].end() && !less(v, *it);
  }

  // Erases the element equivalent to `v` for which `same` holds. Precondition: it is there.
  template <class Same>
  void erase(const T& v, const Less& less, Same same) {
    const size_t c = chunk_for(v, less);
    assert(c < chunks_.size());
    auto& chunk = chunks_[c];
    auto it = std::lower_bound(chunk.begin(), chunk.end(), v, less);
    while (it != chunk.end() && !same(*it)) ++it;  // equivalents are rare (no two of one computer)
    assert(it != chunk.end());
    chunk.erase(it);
    --size_;
    if (chunk.empty()) {
      chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(c));
      lasts_.erase(lasts_.begin() + static_cast<std::ptrdiff_t>(c));
    } else if (chunk.size() < kMinChunk && c + 1 < chunks_.size() && chunk.size() + chunks_[c + 1].size() <= kMaxChunk) {
      chunk.insert(chunk.end(), chunks_[c + 1].begin(), chunks_[c + 1].end());
      chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(c) + 1);
      lasts_.erase(lasts_.begin() + static_cast<std::ptrdiff_t>(c));  // chunk c now ends where c + 1 did
    } else {
      lasts_[c] = chunk.back();
    }
  }

  // Replaces the element equivalent to `from` for which `same` holds by `to`, where `less` sorts it
  // (after its equivalents), as erase then insert would. The common case of the capacity index (a
  // computer's load changes by one, so it moves past a few computers of its price) stays inside one
  // chunk: one search for the chunk and one rotation of the elements it moves past, instead of two
  // searches and two shifts of half a chunk each. Precondition: `from`'s element is there.
  template <class Same>
  void move(const T& from, const T& to, const Less& less, Same same) {
    const size_t c = chunk_for(from, less);
    assert(c < chunks_.size());
    // Whether `to` sorts into chunk c as chunk_for would place it (after everything: the last
    // chunk), read off c's neighbours' last elements instead of a second search over all chunks.
    const bool stays = (c == 0 || less(lasts_[c - 1], to)) && (c + 1 == chunks_.size() || !less(lasts_[c], to));
    if (!stays) {
      erase(from, less, same);
      insert(to, less);
      return;
    }
    auto& chunk = chunks_[c];
    auto it = std::lower_bound(chunk.begin(), chunk.end(), from, less);
    while (it != chunk.end() && !same(*it)) ++it;
    assert(it != chunk.end());
    auto place = std::upper_bound(chunk.begin(), chunk.end(), to, less);  // counts `it` when it sorts before `to`
    if (place > it) {
      std::rotate(it, it + 1, place);
      *(place - 1) = to;
    } else {
      std::rotate(place, it, it + 1);
      *place = to;
    }
    lasts_[c] = chunk.back();
  }

  // Every chunk non-empty and sorted, each last element beside it, the chunks in order: for tests.
  bool consistent(const Less& less) const {
    if (lasts_.size() != chunks_.size()) return false;
    size_t n = 0;
    const T* prev = nullptr;
    for (size_t c = 0; c < chunks_.size(); ++c) {
      if (chunks_[c].empty() || less(chunks_[c].back(), lasts_[c]) || less(lasts_[c], chunks_[c].back())) return false;
      for (const T& x : chunks_[c]) {
        if (prev != nullptr && less(x, *prev)) return false;
        prev = &x;
      }
      n += chunks_[c].size();
    }
    return n == size_;
  }

  void clear() {
    chunks_.clear();
    lasts_.clear();
    size_ = 0;
  }

 private:
  // The first chunk whose last element does not sort before `v` (chunks_.size() when none).
  size_t chunk_for(const T& v, const Less& less) const {
    auto it = std::partition_point(lasts_.begin(), lasts_.end(), [&](const T& last) { return less(last, v); });
    return static_cast<size_t>(it - lasts_.begin());
  }

  std::vector<std::vector<T>> chunks_;  // each sorted and non-empty; concatenated, sorted
  // chunks_[i].back(), side by side: finding a chunk reads one array, not one heap block per probe.
  std::vector<T> lasts_;
  size_t size_ = 0;
};

}  // namespace slap::market
