// Data-parallel training over processes through libtorch's c10d: a TCPStore rendezvous at
// master_addr:port and ProcessGroupGloo collectives. Each process computes gradients on
// its rows of the global batch; allreduce averages them, so every process applies the same
// update (equal to one process on the whole batch, up to summation order).
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace edgelm::train {

class DataParallel {
  public:
    // world_size 1 makes every call a no-op without touching the network.
    DataParallel(int world_size, int rank, const std::string& master_addr, int master_port);
    ~DataParallel();

    int world_size() const { return world_size_; }
    int rank() const { return rank_; }

    // Averages the gradients of `params` over processes (one flat buffer, one allreduce).
    void average_gradients(const std::vector<torch::Tensor>& params);
    // Copies rank 0's values into every process's tensors.
    void broadcast(const std::vector<torch::Tensor>& tensors);
    // Sums doubles over processes.
    std::vector<double> sum(std::vector<double> values);

  private:
    struct Impl;
    int world_size_, rank_;
    std::unique_ptr<Impl> impl_;
};

}  // namespace edgelm::train
