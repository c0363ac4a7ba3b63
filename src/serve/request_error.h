// A request the server refuses: the HTTP status, OpenAI's error `type` and `code`, and the
// field at fault (`param`), so that a client's error handling and a person reading the
// message both know what to change.
#pragma once

#include <stdexcept>
#include <string>

namespace edgelm::serve {

class RequestError : public std::runtime_error {
  public:
    RequestError(int status, std::string message, std::string param = {}, std::string code = {})
        : std::runtime_error(std::move(message)),
          status_(status),
          param_(std::move(param)),
          code_(std::move(code)) {}
    int status() const { return status_; }
    const std::string& param() const { return param_; }
    const std::string& code() const { return code_; }
    // OpenAI's error types: invalid_request_error (4xx), authentication_error (401),
    // server_error (5xx).
    const char* type() const {
        if (status_ == 401) return "authentication_error";
        return status_ >= 500 ? "server_error" : "invalid_request_error";
    }

  private:
    int status_;
    std::string param_, code_;
};

// 400 naming the field.
inline RequestError bad_field(const std::string& param, const std::string& what) {
    return RequestError(400, "'" + param + "' " + what, param, "invalid_value");
}

}  // namespace edgelm::serve
