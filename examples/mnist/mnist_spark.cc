// mnist_spark: TensorFlowOnSpark's MNIST example as one C++ program. Run by a user it is the
// driver (reserves a cluster of nodes, feeds or points them at the data, collects results);
// started by a launcher it is a node (see mnist_node.cc).
//
//   mnist_spark --cluster_size 3 --images mnist_data/train/images
//       --labels mnist_data/train/labels --format csv --mode train --model mnist_model
//   mnist_spark --cluster_size 3 --images mnist_data/test/images
//       --labels mnist_data/test/labels --format csv --mode inference --model mnist_model
//       --output predictions
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "mnist_args.h"
#include "mnist_dataset.h"
#include "tos/fs.h"
#include "tos/partitioned_dir.h"
#include "tos/tos.h"

namespace mnist {
void MapFun(const Args& a, tos::Context& ctx);
tos::Status CudaUsableHere();  // mnist_device.h's CudaUsable, for the driver
}  // namespace mnist

namespace {

using mnist::Args;
using mnist::LocalPath;

Args ParseOrExit(const std::vector<std::string>& argv) {
  bool help = false;
  std::string usage;
  auto a = mnist::ParseArgs(argv, &help, &usage);
  if (help) {
    std::cout << usage;
    std::exit(0);
  }
  if (!a.ok()) {
    std::cerr << "mnist_spark: " << a.status().message() << "\n" << usage;
    std::exit(2);
  }
  return std::move(a).value();
}

void NodeMain(const std::vector<std::string>& argv, tos::Context& ctx) {
  mnist::MapFun(ParseOrExit(argv), ctx);
}

// The user's paths as the nodes resolve them (Context::absolute_path): TensorFlowOnSpark's
// rules against fs.defaultFS, so "mnist/csv" is hdfs://NN/user/<user>/mnist/csv when the
// default file system is HDFS; "file://" is dropped from local ones.
tos::Status ResolveUserPaths(Args* a) {
  for (std::string* p : {&a->images, &a->labels, &a->model, &a->output, &a->log_dir}) {
    if (p->empty()) continue;
    TOS_ASSIGN_OR_RETURN(std::string resolved, tos::ResolvePath(*p));
    *p = LocalPath(resolved);
  }
  return tos::Status::OK();
}

tos::MnistDatasetSpec Spec(const Args& a) {
  tos::MnistDatasetSpec spec;
  spec.format = tos::ValueOrThrow(tos::ParseDataFormat(a.format));
  spec.images = a.images;
  spec.labels = a.labels;
  spec.allow_incomplete = a.allow_incomplete;
  return spec;
}

// Reads the "<label> <prediction>" lines of every output partition.
tos::Status Accuracy(const std::string& dir, uint64_t* correct, uint64_t* total) {
  TOS_ASSIGN_OR_RETURN(auto output, tos::OpenTextDataset(dir));
  *correct = *total = 0;
  for (size_t p = 0; p < output->num_partitions(); ++p) {
    TOS_ASSIGN_OR_RETURN(auto part, output->OpenPartition(p));
    std::string_view line;
    while (true) {
      TOS_ASSIGN_OR_RETURN(bool more, part->Next(&line));
      if (!more) break;
      auto space = line.find(' ');
      if (space == std::string_view::npos) {
        return tos::DataLoss(dir + " partition " + std::to_string(p) +
                             ": expected '<label> <prediction>', got '" + std::string(line) + "'");
      }
      ++*total;
      *correct += line.substr(0, space) == line.substr(space + 1);
    }
  }
  return tos::Status::OK();
}

// TensorFlowOnSpark's rule: training stops at --steps or after --epochs, whichever comes
// first. Warns before any node starts when --steps will end training before the asked epochs.
// The records are estimated from the first partition (the layouts of mnist_data_setup have
// partitions of equal size), so the check costs one partition's read, not the dataset's.
void WarnIfStepsEndTrainingEarly(const Args& a, const tos::RecordSource& source) {
  const size_t parts = source.num_partitions();
  if (parts == 0) return;
  auto reader = source.OpenPartition(0);
  if (!reader.ok()) return;  // the feed reports it, naming the file
  uint64_t first = 0;
  std::string_view record;
  for (;;) {
    auto more = (*reader)->Next(&record);
    if (!more.ok() || !*more) break;
    ++first;
  }
  const uint64_t records = first * parts;
  // A global step is one batch of one worker (asynchronous ps) or one batch of every worker
  // (allreduce, synchronous ps).
  const int workers = std::max(1, a.cluster_size - (a.strategy == "ps" ? a.num_ps : 0));
  const bool lockstep = a.strategy == "allreduce" || a.sync;
  const uint64_t per_step = static_cast<uint64_t>(a.batch_size) * (lockstep ? workers : 1);
  const uint64_t needed = (static_cast<uint64_t>(a.epochs) * records + per_step - 1) / per_step;
  if (needed > static_cast<uint64_t>(a.steps)) {
    std::printf(
        "warning: --steps %d will end training before --epochs %d: about %llu records (%zu "
        "partitions of %llu) need about %llu global steps at --batch_size %d; training stops "
        "at whichever comes first. Raise --steps to train every epoch\n",
        a.steps, a.epochs, static_cast<unsigned long long>(records), parts,
        static_cast<unsigned long long>(first), static_cast<unsigned long long>(needed),
        a.batch_size);
  }
}

int Fail(const tos::Status& st) {
  std::cerr << "mnist_spark: " << st.ToString() << std::endl;
  return 1;
}

int Driver(const std::vector<std::string>& argv) {
  Args a = ParseOrExit(argv);
  tos::Status valid = mnist::Validate(a);
  if (!valid.ok()) return Fail(valid);
  if (a.check_args) {
    std::printf("arguments ok\n");
    return 0;
  }
  if (tos::Status resolved = ResolveUserPaths(&a); !resolved.ok()) return Fail(resolved);
  // Refused before any node starts; the nodes check again (on Spark, this program is not the
  // driver: they are the first to know).
  if (a.device == "cuda") {
    if (tos::Status cuda = mnist::CudaUsableHere(); !cuda.ok()) return Fail(cuda);
  }
  const bool inference = a.mode == "inference";
  const bool feed = a.input_mode == "spark";

  tos::ClusterOptions o;
  o.num_executors = a.cluster_size;
  o.num_ps = inference ? 0 : a.num_ps;  // inference needs no parameter servers
  o.input_mode = feed ? tos::InputMode::kSpark : tos::InputMode::kTensorflow;
  o.tensorboard = a.tensorboard;
  // Node logs stay on local disks; with a --log_dir on HDFS only TensorBoard's events go there.
  o.log_dir = tos::UriScheme(a.log_dir).empty() ? a.log_dir : "tos_logs";
  o.reservation_timeout = std::chrono::seconds(a.reservation_timeout);
  o.feed_timeout = std::chrono::seconds(a.feed_timeout);
  o.node_timeout = std::chrono::seconds(a.node_timeout);
  o.threads_per_node = a.threads;
  o.gpus_per_node = a.gpus_per_node;
  if (inference && a.num_ps > 0 && a.strategy == "ps") {
    std::printf("inference: %d workers, no parameter servers\n", a.cluster_size);
  }

  // The data is opened (and checked) before any node starts.
  std::unique_ptr<tos::RecordSource> source;
  if (a.format == "parquet") {
    if (feed) {
      return Fail(tos::InvalidArgument(
          "--format parquet: this driver does not feed Parquet; Spark feeds it as a DataFrame "
          "(examples/mnist/spark/mnist_spark.py --format parquet), or the nodes read it "
          "themselves (--input_mode tensorflow)"));
    }
    tos::ParquetShardOptions po;  // its first part's footer and columns
    po.path = a.images;
    po.columns = {"image", "label"};
    po.expect = mnist::MnistColumns().expect;
    po.allow_incomplete = a.allow_incomplete;
    auto shard = tos::ParquetShard::Open(po);
    if (!shard.ok()) return Fail(shard.status());
  } else {
    auto opened = tos::OpenMnistRecordSource(Spec(a));
    if (!opened.ok()) return Fail(opened.status());
    source = std::move(opened).value();
    if (!inference) WarnIfStepsEndTrainingEarly(a, *source);
  }
  const std::string& output = a.output;
  if (inference && !feed) {
    // Workers write the parts themselves: start from an empty output directory.
    tos::Status ready = tos::RemoveDataset(output);
    if (ready.ok()) ready = tos::ValueOrThrow(tos::GetFileSystem(output))->CreateDirs(output);
    if (!ready.ok()) return Fail(ready);
  }

  auto start = std::chrono::steady_clock::now();
  auto cluster = tos::Cluster::Run(o);
  if (!cluster.ok()) return Fail(cluster.status());
  tos::Status st;
  if (feed && inference) {
    st = (*cluster)->Inference(*source, output, "input", a.overwrite);
  } else if (feed) {
    st = (*cluster)->Train(*source, a.epochs, "input");
  }
  tos::Status down = (*cluster)->Shutdown();
  if (!st.ok()) return Fail(st);
  if (!down.ok()) return Fail(down);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!inference) {
    std::printf("training done in %.2f s; model in %s (export/ for inference)\n", secs,
                a.model.c_str());
    return 0;
  }
  if (!feed) {
    tos::Status marked = tos::WriteSuccessMarker(output);
    if (!marked.ok()) return Fail(marked);
  }
  uint64_t correct = 0, total = 0;
  tos::Status acc = Accuracy(output, &correct, &total);
  if (!acc.ok()) return Fail(acc);
  std::printf("inference done in %.2f s: %llu predictions in %s\n", secs,
              static_cast<unsigned long long>(total), output.c_str());
  std::printf("accuracy: %.4f (%llu of %llu)\n", total ? static_cast<double>(correct) / total : 0.0,
              static_cast<unsigned long long>(correct), static_cast<unsigned long long>(total));
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return tos::Main(argc, argv, NodeMain, Driver); }
