// Errors raised inside the library. Each carries what failed and where (a file, a
// tensor, a byte offset); the CLI prints what() as one line and exits non-zero, the
// C API turns it into a status code and a message.
#pragma once

#include <stdexcept>
#include <string>

namespace edgelm {

class Error : public std::runtime_error {
  public:
    explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// A file (model, tokenizer, session state, text) is malformed or unreadable.
class FormatError : public Error {
  public:
    using Error::Error;
};

// A caller passed an argument that cannot work (zero threads, prompt longer than the
// context, unknown type name, ...).
class ArgumentError : public Error {
  public:
    using Error::Error;
};

// An operating-system call failed (open, mmap, write, rename).
class IoError : public Error {
  public:
    using Error::Error;
};

}  // namespace edgelm
