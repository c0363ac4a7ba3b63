// Debian's c10d headers declare ProcessGroupGloo only with USE_C10D_GLOO (set by CMake).
#include "train/data_parallel.h"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "core/error.h"

namespace edgelm::train {

struct DataParallel::Impl {
    c10::intrusive_ptr<c10d::Store> store;
    c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

DataParallel::DataParallel(int world_size, int rank, const std::string& master_addr,
                           int master_port)
    : world_size_(world_size), rank_(rank) {
    if (world_size < 1 || rank < 0 || rank >= world_size)
        throw ArgumentError("rank " + std::to_string(rank) + " is not in a world of " +
                            std::to_string(world_size) + " processes");
    if (world_size == 1) return;
    if (master_port <= 0 || master_port > 65535)
        throw ArgumentError("--master-port " + std::to_string(master_port) + " is not a port");
    impl_ = std::make_unique<Impl>();
    try {
        c10d::TCPStoreOptions opts;
        opts.port = static_cast<uint16_t>(master_port);
        opts.isServer = rank == 0;
        opts.numWorkers = static_cast<size_t>(world_size);
        opts.timeout = std::chrono::seconds(300);
        impl_->store = c10::make_intrusive<c10d::TCPStore>(master_addr, opts);
        auto options = c10d::ProcessGroupGloo::Options::create();
        options->timeout = std::chrono::seconds(300);
        // On one machine every process talks over loopback; across machines Gloo binds the
        // address this host's name resolves to (GLOO_SOCKET_IFNAME overrides it).
        const bool loopback = master_addr == "127.0.0.1" || master_addr == "localhost";
        options->devices.push_back(
            loopback ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                     : c10d::ProcessGroupGloo::createDefaultDevice());
        impl_->group =
            c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, rank, world_size, options);
    } catch (const std::exception& e) {
        throw IoError("data-parallel rendezvous at " + master_addr + ":" +
                      std::to_string(master_port) + " failed (rank " + std::to_string(rank) +
                      " of " + std::to_string(world_size) + "): " + e.what());
    }
}

DataParallel::~DataParallel() = default;

void DataParallel::average_gradients(const std::vector<torch::Tensor>& params) {
    if (world_size_ == 1) return;
    std::vector<torch::Tensor> grads;
    for (const torch::Tensor& p : params)
        grads.push_back(p.grad().defined() ? p.grad().reshape(-1) : torch::zeros_like(p).view(-1));
    std::vector<torch::Tensor> flat{torch::cat(grads)};
    impl_->group->allreduce(flat)->wait();
    flat[0].div_(world_size_);
    int64_t off = 0;
    for (const torch::Tensor& p : params) {
        const int64_t n = p.numel();
        if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
        p.grad().view(-1).copy_(flat[0].narrow(0, off, n));
        off += n;
    }
}

void DataParallel::broadcast(const std::vector<torch::Tensor>& tensors) {
    if (world_size_ == 1) return;
    torch::NoGradGuard no_grad;
    for (const torch::Tensor& t : tensors) {
        std::vector<torch::Tensor> one{t.detach()};
        impl_->group->broadcast(one)->wait();
    }
}

std::vector<double> DataParallel::sum(std::vector<double> values) {
    if (world_size_ == 1) return values;
    std::vector<torch::Tensor> t{torch::tensor(values, torch::kDouble)};
    impl_->group->allreduce(t)->wait();
    auto acc = t[0].accessor<double, 1>();
    for (size_t i = 0; i < values.size(); ++i) values[i] = acc[static_cast<int64_t>(i)];
    return values;
}

}  // namespace edgelm::train
