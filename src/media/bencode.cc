#include "media/bencode.h"

#include <charconv>

namespace tollgate::media {
namespace {

const Bencode::List kNoList;
const Bencode::Dict kNoDict;

struct Decoder {
  std::string_view in;
  size_t pos = 0;
  size_t items = 0;
  Bencode::DecodeError error = Bencode::DecodeError::Malformed;

  bool number(char end, int64_t& out) {
    size_t stop = in.find(end, pos);
    if (stop == std::string_view::npos || stop == pos) return false;
    const char* b = in.data() + pos;
    const char* e = in.data() + stop;
    auto r = std::from_chars(b, e, out);
    if (r.ec != std::errc() || r.ptr != e) return false;
    pos = stop + 1;
    return true;
  }

  bool value(Bencode& out, int depth) {
    if (depth > kMaxBencodeDepth) {
      error = Bencode::DecodeError::TooDeep;
      return false;
    }
    if (++items > kMaxBencodeItems) {
      error = Bencode::DecodeError::TooMany;
      return false;
    }
    if (pos >= in.size()) return false;
    const char c = in[pos];
    if (c == 'i') {
      ++pos;
      int64_t v = 0;
      if (!number('e', v)) return false;
      out = Bencode(v);
      return true;
    }
    if (c == 'l' || c == 'd') {
      ++pos;
      if (c == 'l') {
        out = Bencode(Bencode::List{});
      } else {
        out = Bencode::dict();
      }
      while (pos < in.size() && in[pos] != 'e') {
        if (c == 'l') {
          Bencode item;
          if (!value(item, depth + 1)) return false;
          out.push(std::move(item));
        } else {
          Bencode key;
          if (!value(key, depth + 1) || !key.isString()) return false;
          Bencode v;
          if (!value(v, depth + 1)) return false;
          out.set(std::string(key.str()), std::move(v));
        }
      }
      if (pos >= in.size()) return false;
      ++pos;  // 'e'
      return true;
    }
    if (c >= '0' && c <= '9') {
      int64_t len = 0;
      if (!number(':', len) || len < 0 || static_cast<size_t>(len) > in.size() - pos) return false;
      out = Bencode(in.substr(pos, static_cast<size_t>(len)));
      pos += static_cast<size_t>(len);
      return true;
    }
    return false;
  }
};

}  // namespace

const Bencode::List& Bencode::list() const {
  return type_ == Type::List ? list_ : kNoList;
}
const Bencode::Dict& Bencode::items() const {
  return type_ == Type::Dict ? dict_ : kNoDict;
}

const Bencode* Bencode::get(std::string_view key) const {
  if (type_ != Type::Dict) return nullptr;
  auto it = dict_.find(key);
  return it == dict_.end() ? nullptr : &it->second;
}

int64_t Bencode::intAt(std::string_view key, int64_t dflt) const {
  const Bencode* v = get(key);
  if (!v) return dflt;
  if (v->isInt()) return v->integer();
  int64_t out = 0;
  std::string_view s = v->str();
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return (r.ec == std::errc() && r.ptr == s.data() + s.size() && !s.empty()) ? out : dflt;
}

std::string_view Bencode::strAt(std::string_view key) const {
  const Bencode* v = get(key);
  return v ? v->str() : std::string_view();
}

Bencode& Bencode::set(std::string key, Bencode v) {
  if (type_ != Type::Dict) *this = dict();
  return dict_.insert_or_assign(std::move(key), std::move(v)).first->second;
}

void Bencode::erase(std::string_view key) {
  if (type_ != Type::Dict) return;
  auto it = dict_.find(key);
  if (it != dict_.end()) dict_.erase(it);
}

Bencode& Bencode::push(Bencode v) {
  if (type_ != Type::List) *this = Bencode(List{});
  list_.push_back(std::move(v));
  return list_.back();
}

void Bencode::encodeTo(std::string& out) const {
  switch (type_) {
    case Type::String:
      out += std::to_string(str_.size());
      out += ':';
      out += str_;
      break;
    case Type::Integer:
      out += 'i';
      out += std::to_string(int_);
      out += 'e';
      break;
    case Type::List:
      out += 'l';
      for (const Bencode& v : list_) v.encodeTo(out);
      out += 'e';
      break;
    case Type::Dict:
      out += 'd';
      // std::map keeps keys sorted, as bencode requires.
      for (const auto& [k, v] : dict_) {
        out += std::to_string(k.size());
        out += ':';
        out += k;
        v.encodeTo(out);
      }
      out += 'e';
      break;
  }
}

std::string Bencode::encode() const {
  std::string out;
  encodeTo(out);
  return out;
}

Result<Bencode, Bencode::DecodeError> Bencode::decode(std::string_view in) {
  Decoder d{in};
  Bencode out;
  if (!d.value(out, 0)) return Err(d.error);
  if (d.pos != in.size()) return Err(DecodeError::Trailing);
  return out;
}

}  // namespace tollgate::media
