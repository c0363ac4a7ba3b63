// edgelm ab-report URL [--since FILE] [--save FILE] [--json]: compare the A/B variants of a
// running edgelm serve from its /metrics (src/serve/ab_report.h).
#include <httplib.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "serve/ab_report.h"

namespace edgelm::cli {

namespace {

struct AbReportOptions {
    std::string url, since, save;
    bool json = false;
};

std::string read_all(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw IoError(path + ": cannot read the earlier scrape");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

void run_ab_report(const AbReportOptions& o) {
    std::string origin = o.url;
    while (!origin.empty() && origin.back() == '/') origin.pop_back();
    if (origin.size() >= 3 && origin.compare(origin.size() - 3, 3, "/v1") == 0)
        origin.resize(origin.size() - 3);
    if (origin.rfind("http://", 0) != 0 && origin.rfind("https://", 0) != 0)
        throw ArgumentError("ab-report: the URL must start with http:// (got \"" + o.url + "\")");
    httplib::Client client(origin);
    client.set_connection_timeout(10, 0);
    client.set_read_timeout(10, 0);
    const auto r = client.Get("/metrics");
    if (!r)
        throw IoError("ab-report: cannot reach " + origin +
                      "/metrics: " + httplib::to_string(r.error()));
    if (r->status != 200)
        throw IoError(
            "ab-report: " + origin + "/metrics answered " + std::to_string(r->status) +
            (r->status == 401 ? " (the server needs an API key; this command sends none)" : ""));
    serve::Scrape scrape = serve::Scrape::parse(r->body);
    if (!o.save.empty()) {
        AtomicFileWriter w(o.save);
        w.write(r->body.data(), r->body.size());
        w.commit();
    }
    if (!o.since.empty()) scrape = scrape.since(serve::Scrape::parse(read_all(o.since)));
    const nlohmann::json report = serve::ab_report(scrape);
    if (o.json)
        std::printf("%s\n", report.dump(2).c_str());
    else
        std::fputs(serve::ab_report_text(report).c_str(), stdout);
}

}  // namespace

void add_ab_report(CLI::App& app) {
    auto o = std::make_shared<AbReportOptions>();
    CLI::App* sub =
        app.add_subcommand("ab-report", "Compare the A/B variants of a running edgelm serve");
    sub->add_option("url", o->url, "The server (http://host:port, or its /v1 base)")->required();
    sub->add_option("--since", o->since,
                    "An earlier scrape (--save): report only what happened after it");
    sub->add_option("--save", o->save, "Write this scrape to FILE, for a later --since");
    sub->add_flag("--json", o->json, "Print JSON");
    sub->callback([o] { run_ab_report(*o); });
}

}  // namespace edgelm::cli
