// Bencode values, the encoding of rtpengine's ng control protocol
// (dictionaries of byte strings, integers and lists). Encode anything; decode
// with bounds (depth, item count), since a reply is network input. A value
// type: externally synchronized.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace tollgate::media {

// Replies nest dictionaries in lists in dictionaries (tags -> medias ->
// streams -> stats): 16 levels is far beyond what rtpengine sends and keeps
// recursion bounded.
inline constexpr int kMaxBencodeDepth = 16;
// Items in one reply: a `query` of a call with many streams stays far below.
inline constexpr size_t kMaxBencodeItems = 20'000;

class Bencode {
 public:
  enum class Type : uint8_t { String, Integer, List, Dict };
  using Dict = std::map<std::string, Bencode, std::less<>>;
  using List = std::vector<Bencode>;

  Bencode() : type_(Type::Dict) {}
  Bencode(std::string s) : type_(Type::String), str_(std::move(s)) {}  // NOLINT: value type
  Bencode(const char* s) : type_(Type::String), str_(s) {}             // NOLINT
  Bencode(std::string_view s) : type_(Type::String), str_(s) {}        // NOLINT
  Bencode(int64_t i) : type_(Type::Integer), int_(i) {}                // NOLINT
  Bencode(int i) : type_(Type::Integer), int_(i) {}                    // NOLINT
  Bencode(List l) : type_(Type::List), list_(std::move(l)) {}          // NOLINT
  static Bencode dict() { return Bencode(); }

  Type type() const { return type_; }
  bool isString() const { return type_ == Type::String; }
  bool isInt() const { return type_ == Type::Integer; }
  bool isList() const { return type_ == Type::List; }
  bool isDict() const { return type_ == Type::Dict; }

  // Views that are empty / 0 / null when the value is of another type.
  std::string_view str() const { return type_ == Type::String ? std::string_view(str_) : ""; }
  int64_t integer() const { return type_ == Type::Integer ? int_ : 0; }
  const List& list() const;
  const Dict& items() const;
  const Bencode* get(std::string_view key) const;  // dict member, null if absent
  // A dict member's integer, also when sent as a decimal string; `dflt` otherwise.
  int64_t intAt(std::string_view key, int64_t dflt = 0) const;
  std::string_view strAt(std::string_view key) const;

  Bencode& set(std::string key, Bencode v);  // dict member (the value becomes a dict)
  Bencode& push(Bencode v);                  // list item (the value becomes a list)
  void erase(std::string_view key);

  std::string encode() const;
  void encodeTo(std::string& out) const;

  enum class DecodeError : uint8_t { Malformed, TooDeep, TooMany, Trailing };
  static Result<Bencode, DecodeError> decode(std::string_view in);

 private:
  Type type_;
  std::string str_;
  int64_t int_ = 0;
  List list_;
  Dict dict_;
};

}  // namespace tollgate::media
