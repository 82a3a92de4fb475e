#include "mnist_args.h"

#include <CLI/CLI.hpp>

#include "mnist_dataset.h"

namespace mnist {

tos::Result<Args> ParseArgs(const std::vector<std::string>& argv, bool* help, std::string* usage) {
  Args a;
  CLI::App app{"mnist_spark: distributed MNIST training and inference with TorchOnSpark"};
  app.add_option("-b,--batch_size", a.batch_size, "records per batch per worker");
  app.add_option("-e,--epochs", a.epochs, "passes over the training data");
  app.add_option("-f,--format", a.format, "csv, csv2, tfr, tf or parquet (a DataFrame from Spark)");
  app.add_option("-i,--images", a.images,
                 "images directory (csv) or dataset directory (csv2, tfr)");
  app.add_option("-l,--labels", a.labels, "labels directory (csv only)");
  app.add_option("-m,--model", a.model, "model directory: checkpoints and export/");
  app.add_option("-n,--cluster_size", a.cluster_size, "number of executors (nodes)");
  app.add_option("-o,--output", a.output, "inference output directory");
  app.add_option("-r,--readers", a.readers, "parallel readers per worker (direct mode)");
  app.add_option("-s,--steps", a.steps, "maximum global steps");
  app.add_flag("--tensorboard", a.tensorboard, "launch TensorBoard on the chief");
  app.add_option("-X,--mode", a.mode, "train or inference");
  app.add_flag("-c,--rdma", a.rdma, "use RDMA (not available in this build)");
  app.add_option("--num_ps", a.num_ps, "parameter server nodes (0 with --strategy allreduce)");
  app.add_option("--input_mode", a.input_mode,
                 "spark (the driver feeds) or tensorflow (nodes read files)");
  app.add_option("--strategy", a.strategy, "ps or allreduce");
  app.add_option("--model_type", a.model_type, "mlp or cnn");
  app.add_option("--optimizer", a.optimizer, "adagrad, sgd, momentum or adam");
  app.add_option("--learning_rate", a.learning_rate, "learning rate");
  app.add_option("--log_dir", a.log_dir,
                 "TensorBoard and node log directory (default <model>/logs)");
  app.add_flag("--sync", a.sync, "synchronous parameter-server updates");
  app.add_option("--checkpoint_steps", a.checkpoint_steps, "checkpoint every N global steps");
  app.add_option("--threads", a.threads, "intra-op and BLAS threads per node");
  app.add_option("--seed", a.seed, "seed of the initial model (0: a random one)");
  app.add_option("--shuffle_buffer", a.shuffle_buffer,
                 "records in the shuffle buffer (direct mode)");
  app.add_option("--feed_timeout", a.feed_timeout, "seconds a worker may stop consuming its feed");
  app.add_option(
         "--node_timeout", a.node_timeout,
         "seconds a node (or the driver) may send no heartbeat before the job fails naming it")
      ->check(CLI::Range(2, 86400));
  app.add_flag("--allow-incomplete,--allow_incomplete", a.allow_incomplete,
               "read a dataset without _SUCCESS or with missing parts (the parts present)");
  app.add_flag("--check_args", a.check_args,
               "check the arguments and exit (0 when they are usable)");
  app.add_option("--reservation_timeout", a.reservation_timeout, "seconds to wait for all nodes");
  app.add_option("--device", a.device,
                 "where trainers compute: auto (cuda where the node sees a GPU), cpu or cuda");
  app.add_option("--gpus_per_node", a.gpus_per_node,
                 "local mode: give each trainer this many of the GPUs the driver sees (its "
                 "CUDA_VISIBLE_DEVICES); 0: the nodes keep the driver's");
  // TensorFlowOnSpark spells the TensorBoard flag "-tb".
  std::vector<std::string> args;
  for (auto& s : argv) args.push_back(s == "-tb" ? "--tensorboard" : s);
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  *help = false;
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    *help = true;
    *usage = app.help();
    return a;
  } catch (const CLI::ParseError& e) {
    *usage = app.help();
    return tos::InvalidArgument(e.what());
  }
  if (a.log_dir.empty()) a.log_dir = a.model + "/logs";
  return a;
}

tos::Status Validate(const Args& a) {
  if (a.rdma) {
    return tos::Unimplemented(
        "--rdma: this build has no RDMA transport; TorchOnSpark uses TCP. Drop --rdma");
  }
  if (a.mode != "train" && a.mode != "inference")
    return tos::InvalidArgument("--mode must be train or inference");
  if (a.strategy != "ps" && a.strategy != "allreduce")
    return tos::InvalidArgument("--strategy must be ps or allreduce");
  if (a.input_mode != "spark" && a.input_mode != "tensorflow") {
    return tos::InvalidArgument(
        "--input_mode must be spark (the driver feeds) or tensorflow (nodes read files)");
  }
  if (a.mode == "train" && a.strategy == "allreduce" && a.num_ps != 0) {
    return tos::InvalidArgument("--strategy allreduce uses no parameter servers: add --num_ps 0");
  }
  if (a.mode == "train" && a.strategy == "ps" && a.num_ps < 1) {
    return tos::InvalidArgument(
        "--strategy ps needs --num_ps 1 or more (or use --strategy allreduce)");
  }
  if (a.images.empty()) return tos::InvalidArgument("--images is required (the dataset directory)");
  if (a.format != "parquet" && !tos::ParseDataFormat(a.format).ok()) {
    return tos::InvalidArgument("--format must be csv, csv2, tf, tfr, pickle or parquet, not '" +
                                a.format + "'");
  }
  if (a.format == "parquet" && a.mode == "inference" && a.input_mode != "spark") {
    return tos::Unimplemented(
        "--format parquet inference reads the dataset as a DataFrame (--input_mode spark), "
        "which returns the predictions in the dataset's order");
  }
  if (a.format == "csv" && a.labels.empty())
    return tos::InvalidArgument("--format csv needs --labels (the labels directory)");
  if (a.batch_size < 1 || a.steps < 1 || a.epochs < 1 || a.cluster_size < 1 || a.readers < 1) {
    return tos::InvalidArgument(
        "--batch_size, --steps, --epochs, --cluster_size and --readers must be positive");
  }
  if (a.model_type != "mlp" && a.model_type != "cnn")
    return tos::InvalidArgument("--model_type must be mlp or cnn");
  if (a.device != "auto" && a.device != "cpu" && a.device != "cuda")
    return tos::InvalidArgument("--device must be auto, cpu or cuda, not '" + a.device + "'");
  if (a.gpus_per_node < 0) return tos::InvalidArgument("--gpus_per_node must be 0 or more");
  return tos::Status::OK();
}

tos::ColumnFeedOptions MnistColumns() {
  tos::ColumnFeedOptions o;
  o.expect = {{"label", "int32"}};  // image: binary or array<int>, checked with the pixels
  return o;
}

std::string LocalPath(const std::string& path) {
  return path.rfind("file://", 0) == 0 ? path.substr(7) : path;
}

}  // namespace mnist
