// Linear regression with TorchOnSpark, written as a user would: one binary is the driver and
// the node program. Records are csv lines "y,x1,...,xk".
//
//   linreg --data DIR --model FILE --predictions DIR [--workers 2] [--steps 400]
//
// 1. Training: a cluster of `workers` trainers in direct mode; each reads its shard of DIR,
//    and all fit one torch::nn::Linear with gradients averaged over the trainers' ring.
//    The chief writes the coefficients to FILE: "b w1 ... wk".
// 2. Inference: a second cluster is fed DIR by the driver; each node predicts y for its
//    records; the predictions land in DIR/part-NNNNN in the input's order.
#include <torch/torch.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "tos/csv.h"
#include "tos/tos.h"
#include "tos/train.h"

namespace {

std::string Flag(const std::vector<std::string>& args, const std::string& name,
                 const std::string& fallback = "") {
  for (size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == "--" + name) return args[i + 1];
  return fallback;
}

// "y,x1,x2": the layout that every record has.
const tos::CsvLayout& Layout() {
  static const tos::CsvLayout layout = tos::CsvLayout::FromSpec("y:float,x:float[2]").value();
  return layout;
}

// y, then the features, from one record; an error names the field.
std::vector<float> ParseCsv(std::string_view line) {
  tos::Example row;
  tos::ThrowIfError(Layout().Decode(line, &row));
  std::vector<float> v = **row.Floats("y");
  auto x = **row.Floats("x");
  v.insert(v.end(), x.begin(), x.end());
  return v;
}

// rows of "y,x1..xk" -> x [n,k], y [n,1]
void ToTensors(const std::vector<std::vector<float>>& rows, torch::Tensor* x, torch::Tensor* y) {
  const int64_t n = static_cast<int64_t>(rows.size()), k = static_cast<int64_t>(rows[0].size()) - 1;
  *x = torch::empty({n, k});
  *y = torch::empty({n, 1});
  auto xa = x->accessor<float, 2>();
  auto ya = y->accessor<float, 2>();
  for (int64_t i = 0; i < n; ++i) {
    if (static_cast<int64_t>(rows[i].size()) != k + 1)
      throw std::runtime_error("rows of different widths");
    ya[i][0] = rows[i][0];
    for (int64_t j = 0; j < k; ++j) xa[i][j] = rows[i][j + 1];
  }
}

void Train(const std::vector<std::string>& args, tos::Context& ctx) {
  tos::ThrowIfError(tos::train::ConfigureThreads(1).status());
  // This trainer's shard, whole, in memory: every trainer then takes the same number of steps.
  std::shared_ptr<const tos::RecordSource> data =
      tos::ValueOrThrow(tos::OpenTextDataset(Flag(args, "data")));
  tos::ShardReaderOptions so;
  so.shard_index = ctx.worker_index();
  so.num_shards = ctx.num_workers();
  auto reader = tos::ValueOrThrow(tos::ShardReader::Open(data, so));
  std::vector<std::vector<float>> rows;
  std::vector<std::string> batch;
  while (tos::ValueOrThrow(reader->NextBatch(1024, &batch)))
    for (auto& r : batch) rows.push_back(ParseCsv(r));
  if (rows.empty()) throw std::runtime_error("no records in this trainer's shard");
  torch::Tensor x, y;
  ToTensors(rows, &x, &y);

  torch::manual_seed(1);
  torch::nn::Linear model(x.size(1), 1);
  auto ring = tos::ValueOrThrow(tos::train::ConnectTrainers(ctx));
  auto allreducer =
      tos::ValueOrThrow(tos::train::GradientAllreducer::Create(ring.get(), model->parameters()));
  tos::ThrowIfError(allreducer->BroadcastParameters(0));
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.1));
  const int steps = std::stoi(Flag(args, "steps", "400"));
  const int64_t batch_size = 64;
  for (int step = 0; step < steps; ++step) {
    int64_t from = (step * batch_size) % x.size(0);
    int64_t to = std::min<int64_t>(from + batch_size, x.size(0));
    opt.zero_grad();
    auto loss = torch::mse_loss(model->forward(x.slice(0, from, to)), y.slice(0, from, to));
    loss.backward();
    tos::ThrowIfError(allreducer->AverageGradients());
    opt.step();
    ctx.ReportProgress();
  }
  if (ctx.is_chief()) {
    std::ofstream out(Flag(args, "model"));
    out.precision(9);
    out << model->bias.item<float>();
    auto w = model->weight.accessor<float, 2>();
    for (int64_t j = 0; j < model->weight.size(1); ++j) out << " " << w[0][j];
    out << "\n";
    if (!out) throw std::runtime_error("cannot write " + Flag(args, "model"));
  }
}

void Predict(const std::vector<std::string>& args, tos::Context& ctx) {
  std::ifstream in(Flag(args, "model"));
  std::vector<float> coef;
  for (float c; in >> c;) coef.push_back(c);
  if (coef.size() < 2) throw std::runtime_error("no model in " + Flag(args, "model"));
  auto& feed = ctx.data_feed("input");
  for (;;) {
    auto batch = feed.next_batch(256);
    if (batch.empty()) break;
    std::vector<std::string> results;
    for (auto record : batch) {
      auto row = ParseCsv(record);
      float yhat = coef[0];
      for (size_t j = 1; j < row.size() && j < coef.size(); ++j) yhat += coef[j] * row[j];
      results.push_back(std::to_string(yhat));
    }
    feed.batch_results(results);
  }
}

void MapFun(const std::vector<std::string>& args, tos::Context& ctx) {
  if (args.at(0) == "train")
    Train(args, ctx);
  else
    Predict(args, ctx);
}

int Driver(const std::vector<std::string>& args) {
  std::vector<std::string> node_args = {"train"};
  node_args.insert(node_args.end(), args.begin(), args.end());
  tos::ClusterOptions o;
  o.num_executors = std::stoi(Flag(args, "workers", "2"));
  o.input_mode = tos::InputMode::kTensorflow;  // the trainers read their shards themselves
  o.node_args = node_args;
  auto training = tos::Cluster::Run(o);
  tos::Status st = training.ok() ? (*training)->Shutdown() : training.status();
  if (!st.ok()) {
    std::cerr << "training failed: " << st.ToString() << "\n";
    return 1;
  }
  node_args[0] = "predict";
  o.input_mode = tos::InputMode::kSpark;  // the driver feeds the records
  o.node_args = node_args;
  auto inference = tos::Cluster::Run(o);
  if (!inference.ok()) {
    std::cerr << "inference failed: " << inference.status().ToString() << "\n";
    return 1;
  }
  auto data = tos::OpenTextDataset(Flag(args, "data"));
  st = data.ok() ? (*inference)->Inference(**data, Flag(args, "predictions")) : data.status();
  tos::Status down = (*inference)->Shutdown();
  if (!st.ok() || !down.ok()) {
    std::cerr << "inference failed: " << (st.ok() ? down : st).ToString() << "\n";
    return 1;
  }
  std::ifstream model(Flag(args, "model"));
  std::string coefficients;
  std::getline(model, coefficients);
  std::cout << "coefficients (b w1 ... wk): " << coefficients << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return tos::Main(argc, argv, MapFun, Driver); }
