// Command line of mnist_spark: TensorFlowOnSpark's mnist_spark.py flags plus TorchOnSpark's.
// Driver and nodes parse the same argv.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tos/columns.h"
#include "tos/status.h"

namespace mnist {

struct Args {
  int batch_size = 100;
  int epochs = 1;
  std::string format = "csv";
  std::string images;
  std::string labels;
  std::string model = "mnist_model";
  int cluster_size = 3;
  std::string output = "predictions";
  int readers = 1;
  int steps = 1000;
  bool tensorboard = false;
  std::string mode = "train";  // train | inference
  bool rdma = false;
  int num_ps = 1;
  std::string input_mode = "spark";   // spark (feed) | tensorflow (direct)
  std::string strategy = "ps";        // ps | allreduce
  std::string model_type = "mlp";     // mlp | cnn
  std::string optimizer = "adagrad";  // adagrad | sgd | momentum | adam
  double learning_rate = 0.01;
  std::string log_dir;  // default: <model>/logs
  bool sync = false;    // synchronous ps updates
  int checkpoint_steps = 500;
  int threads = 1;
  int64_t seed = 0;            // 0: a random initial model
  int shuffle_buffer = 10000;  // direct mode
  int feed_timeout = 600;
  int node_timeout = 60;
  bool allow_incomplete = false;
  bool check_args = false;  // validate the arguments and exit (0: usable)
  int reservation_timeout = 600;
  bool overwrite = true;        // replace an existing --output
  std::string device = "auto";  // auto (cuda where the node sees a GPU) | cpu | cuda
  int gpus_per_node = 0;        // local mode: GPUs dealt to each trainer (0: none dealt)
};

// Parses argv (without the program name). InvalidArgument with the usage problem; `help` is
// set when --help was asked for and the usage text is in *usage.
tos::Result<Args> ParseArgs(const std::vector<std::string>& argv, bool* help, std::string* usage);

// Cross-flag checks with the fix in the message (--strategy allreduce needs --num_ps 0, ...).
tos::Status Validate(const Args& args);

// Local paths of the flags' locations (file:// stripped, relative to the working directory).
std::string LocalPath(const std::string& path);

// --format parquet: the columns a DataFrame or Parquet dataset must have (image: binary, the
// 784 pixel bytes, or array<int>; label: int).
tos::ColumnFeedOptions MnistColumns();

}  // namespace mnist
