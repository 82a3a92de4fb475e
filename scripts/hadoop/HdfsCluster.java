// A real single-machine HDFS for tests and for trying TorchOnSpark: a namenode (or two, as an
// HA nameservice) and a datanode from Apache Hadoop's own MiniDFSCluster, WebHDFS on, bound to
// one address; with --yarn also a YARN (ResourceManager + one NodeManager, MiniYARNCluster).
// Run by scripts/hdfs_cluster.sh with the classpath Maven resolves from pom.xml:
//
//   java -cp CLASSPATH HdfsCluster.java DIR [--ha] [--yarn] [--address A] [--owner-pid PID]
//
// It writes DIR/conf/{core-site,hdfs-site}.xml (and yarn-site.xml with --yarn: a
// HADOOP_CONF_DIR for clients) and, once the cluster serves, DIR/cluster.env (DEFAULT_FS,
// WEBHDFS, HADOOP_CONF_DIR, PID; with --yarn also YARN_RM and YARN_LOG_DIR, the
// NodeManager's container log directory). It then runs the commands dropped as files into
// DIR/control/ (stop-namenode, stop-datanode, restart-datanode, shutdown) and exits on
// `shutdown`, on SIGTERM, or when --owner-pid ends.
// YARN keeps its directories (containers' work and log directories) under DIR/target.
import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.HdfsConfiguration;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.hdfs.MiniDFSNNTopology;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.MiniYARNCluster;

public class HdfsCluster {
  static final String NAMESERVICE = "tosns";

  static int freePort(String address) throws IOException {
    try (ServerSocket s = new ServerSocket()) {
      s.bind(new InetSocketAddress(address, 0));
      return s.getLocalPort();
    }
  }

  static void writeAtomically(Path path, String text) throws IOException {
    Path tmp = path.resolveSibling(path.getFileName() + ".tmp");
    Files.write(tmp, text.getBytes(StandardCharsets.UTF_8));
    Files.move(tmp, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }

  static String siteXml(Map<String, String> props) {
    StringBuilder b = new StringBuilder("<?xml version=\"1.0\"?>\n<configuration>\n");
    for (Map.Entry<String, String> e : props.entrySet()) {
      b.append("  <property><name>").append(e.getKey()).append("</name><value>")
          .append(e.getValue()).append("</value></property>\n");
    }
    return b.append("</configuration>\n").toString();
  }

  // Room for a Spark application of one 512m application master (or driver) and three 512m
  // executors, each with Spark's 384m overhead. Nothing measures the containers' memory.
  static final int NODE_MANAGER_MB = 6144;

  // Starts YARN with its services on `address`; `site` gets the yarn-site.xml a client needs.
  // The NodeManager's containers find HDFS through HADOOP_CONF_DIR (exported by
  // hdfs_cluster.sh into this JVM's environment, which YARN passes on to containers).
  static MiniYARNCluster startYarn(String address, String defaultFs, Map<String, String> site)
      throws Exception {
    YarnConfiguration conf = new YarnConfiguration();
    conf.set("fs.defaultFS", defaultFs);
    conf.setBoolean(YarnConfiguration.YARN_MINICLUSTER_FIXED_PORTS, true);
    site.put("yarn.resourcemanager.hostname", address);
    for (String key : new String[] {"yarn.resourcemanager.address",
                                    "yarn.resourcemanager.scheduler.address",
                                    "yarn.resourcemanager.resource-tracker.address",
                                    "yarn.resourcemanager.admin.address",
                                    "yarn.resourcemanager.webapp.address"}) {
      site.put(key, address + ":" + freePort(address));
    }
    site.put("yarn.resourcemanager.bind-host", address);
    site.put("yarn.nodemanager.bind-host", address);
    site.put("yarn.minicluster.yarn.nodemanager.resource.memory-mb", "" + NODE_MANAGER_MB);
    site.put("yarn.nodemanager.resource.memory-mb", "" + NODE_MANAGER_MB);
    site.put("yarn.nodemanager.resource.cpu-vcores", "8");
    site.put("yarn.scheduler.minimum-allocation-mb", "128");
    site.put("yarn.scheduler.maximum-allocation-mb", "" + NODE_MANAGER_MB);
    site.put("yarn.nodemanager.vmem-check-enabled", "false");
    site.put("yarn.nodemanager.pmem-check-enabled", "false");
    // A test machine's disk may be fuller than YARN's 90% default allows.
    site.put("yarn.nodemanager.disk-health-checker.max-disk-utilization-per-disk-percentage", "99.9");
    site.put("yarn.log-aggregation-enable", "false");
    site.put("yarn.scheduler.capacity.root.queues", "default");
    site.put("yarn.scheduler.capacity.root.default.capacity", "100");
    site.put("yarn.scheduler.capacity.maximum-am-resource-percent", "1.0");
    for (Map.Entry<String, String> e : site.entrySet()) conf.set(e.getKey(), e.getValue());

    MiniYARNCluster yarn = new MiniYARNCluster("yarn", 1, 1, 1);  // in test.build.data
    yarn.init(conf);
    yarn.start();
    if (!yarn.waitForNodeManagersToConnect(60000)) {
      throw new IllegalStateException("the NodeManager did not register within 60 s");
    }
    return yarn;
  }

  // Processes whose working directory lies under `root` (YARN containers and what they
  // started), killed: a NodeManager that stops may leave them behind.
  static void killProcessesUnder(Path root) {
    ProcessHandle.allProcesses().forEach(p -> {
      try {
        Path cwd = Files.readSymbolicLink(Path.of("/proc/" + p.pid() + "/cwd"));
        if (cwd.startsWith(root) && p.pid() != ProcessHandle.current().pid()) p.destroyForcibly();
      } catch (IOException | UnsupportedOperationException | SecurityException e) {
        // gone, or not ours to read
      }
    });
  }

  // Stops YARN at exit: the containers' processes first (YARN's own stop waits for
  // applications, can take a minute and may fail half-way in a JVM that is exiting), then
  // the ResourceManager and NodeManager, given 15 s.
  static void stopYarn(MiniYARNCluster yarn, Path containers) {
    killProcessesUnder(containers);
    Thread stop = new Thread(() -> {
      try {
        yarn.stop();
      } catch (RuntimeException e) {
        System.err.println("stopping YARN: " + e);
      }
    });
    stop.setDaemon(true);
    stop.start();
    try {
      stop.join(15000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    killProcessesUnder(containers);
  }

  public static void main(String[] args) throws Exception {
    if (args.length < 1) {
      System.err.println("usage: HdfsCluster DIR [--ha] [--yarn] [--address A] [--owner-pid PID]");
      System.exit(2);
    }
    Path dir = new File(args[0]).getAbsoluteFile().toPath();
    boolean ha = false;
    boolean withYarn = false;
    String address = "127.0.0.1";
    long ownerPid = -1;
    for (int i = 1; i < args.length; ++i) {
      if (args[i].equals("--ha")) ha = true;
      else if (args[i].equals("--yarn")) withYarn = true;
      else if (args[i].equals("--address")) address = args[++i];
      else if (args[i].equals("--owner-pid")) ownerPid = Long.parseLong(args[++i]);
      else throw new IllegalArgumentException("unknown argument " + args[i]);
    }
    Path confDir = dir.resolve("conf");
    Path control = dir.resolve("control");
    Files.createDirectories(confDir);
    Files.createDirectories(control);

    Configuration conf = new HdfsConfiguration();
    conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, dir.resolve("data").toString());
    conf.setBoolean("dfs.webhdfs.enabled", true);
    // MiniDFSCluster's own clients (waitActive, the datanode) call the namenode on 127.0.0.1:
    // on a host of its own (a network namespace) it binds all of that host's addresses.
    String bindHost = address.startsWith("127.") ? address : "0.0.0.0";
    conf.set("dfs.namenode.rpc-bind-host", bindHost);
    conf.set("dfs.namenode.http-bind-host", bindHost);
    if (!bindHost.equals(address)) {
      // The datanode registers over 127.0.0.1, so the namenode records that as its IP: its own
      // clients (WebHDFS writes) and other hosts' use its host name, the address.
      conf.setBoolean("dfs.client.use.datanode.hostname", true);
      conf.setBoolean("dfs.datanode.use.datanode.hostname", true);
    }
    conf.set("dfs.datanode.address", address + ":0");
    conf.set("dfs.datanode.http.address", address + ":0");
    conf.set("dfs.datanode.ipc.address", address + ":0");
    conf.set("dfs.datanode.hostname", address);
    conf.setInt("dfs.replication", 1);
    // Small blocks, so that test files span several of them.
    conf.setLong("dfs.namenode.fs-limits.min-block-size", 1024 * 1024);
    conf.setLong("dfs.blocksize", 8L * 1024 * 1024);

    MiniDFSCluster.Builder builder = new MiniDFSCluster.Builder(conf).numDataNodes(1)
        // The datanode keeps its configured address and host name (else 127.0.0.1).
        .checkDataNodeAddrConfig(true).checkDataNodeHostConfig(true);
    List<int[]> ports = new ArrayList<>();  // {rpc, http} per namenode
    int nnCount = ha ? 2 : 1;
    for (int i = 0; i < nnCount; ++i) ports.add(new int[] {freePort(address), freePort(address)});
    if (ha) {
      MiniDFSNNTopology.NSConf ns = new MiniDFSNNTopology.NSConf(NAMESERVICE);
      for (int i = 0; i < nnCount; ++i) {
        ns.addNN(new MiniDFSNNTopology.NNConf("nn" + (i + 1))
                     .setIpcPort(ports.get(i)[0])
                     .setHttpPort(ports.get(i)[1]));
      }
      builder.nnTopology(new MiniDFSNNTopology().addNameservice(ns));
    } else {
      builder.nameNodePort(ports.get(0)[0]).nameNodeHttpPort(ports.get(0)[1]);
    }
    final MiniDFSCluster cluster = builder.build();
    cluster.waitActive();
    if (ha) cluster.transitionToActive(0);  // nn1 active, nn2 standby

    Map<String, String> core = new LinkedHashMap<>();
    Map<String, String> hdfs = new LinkedHashMap<>();
    String defaultFs;
    StringBuilder webhdfs = new StringBuilder();
    if (ha) {
      defaultFs = "hdfs://" + NAMESERVICE;
      hdfs.put("dfs.nameservices", NAMESERVICE);
      hdfs.put("dfs.ha.namenodes." + NAMESERVICE, "nn1,nn2");
      for (int i = 0; i < nnCount; ++i) {
        String nn = "nn" + (i + 1);
        hdfs.put("dfs.namenode.rpc-address." + NAMESERVICE + "." + nn,
                 address + ":" + ports.get(i)[0]);
        hdfs.put("dfs.namenode.http-address." + NAMESERVICE + "." + nn,
                 address + ":" + ports.get(i)[1]);
        if (i > 0) webhdfs.append(',');
        webhdfs.append(address).append(':').append(ports.get(i)[1]);
      }
      hdfs.put("dfs.client.failover.proxy.provider." + NAMESERVICE,
               "org.apache.hadoop.hdfs.server.namenode.ha.ConfiguredFailoverProxyProvider");
    } else {
      defaultFs = "hdfs://" + address + ":" + ports.get(0)[0];
      hdfs.put("dfs.namenode.rpc-address", address + ":" + ports.get(0)[0]);
      hdfs.put("dfs.namenode.http-address", address + ":" + ports.get(0)[1]);
      webhdfs.append(address).append(':').append(ports.get(0)[1]);
    }
    hdfs.put("dfs.replication", "1");
    if (!bindHost.equals(address)) {
      // Clients, too, reach the datanode by its host name (the address), not 127.0.0.1.
      hdfs.put("dfs.client.use.datanode.hostname", "true");
    }
    hdfs.put("dfs.webhdfs.enabled", "true");
    core.put("fs.defaultFS", defaultFs);
    writeAtomically(confDir.resolve("core-site.xml"), siteXml(core));
    writeAtomically(confDir.resolve("hdfs-site.xml"), siteXml(hdfs));

    Runtime.getRuntime().addShutdownHook(new Thread(cluster::shutdown));
    String yarnEnv = "";
    if (withYarn) {
      Map<String, String> site = new LinkedHashMap<>();
      Path containers = dir.resolve("target");
      System.setProperty("test.build.data", containers.toString());
      MiniYARNCluster yarn;
      try {
        yarn = startYarn(address, defaultFs, site);
      } catch (Exception e) {
        e.printStackTrace();
        System.exit(1);  // HDFS's threads would keep the JVM up
        return;
      }
      Runtime.getRuntime().addShutdownHook(new Thread(() -> stopYarn(yarn, containers)));
      writeAtomically(confDir.resolve("yarn-site.xml"), siteXml(site));
      yarnEnv = "YARN_RM=" + site.get("yarn.resourcemanager.address") + "\nYARN_LOG_DIR=" +
                yarn.getNodeManager(0).getConfig().get("yarn.nodemanager.log-dirs") + "\n";
      System.out.println("YARN serving: ResourceManager " + site.get("yarn.resourcemanager.address"));
    }
    writeAtomically(dir.resolve("cluster.env"),
                    "DEFAULT_FS=" + defaultFs + "\nWEBHDFS=" + webhdfs + "\nHADOOP_CONF_DIR=" +
                        confDir + "\nPID=" + ProcessHandle.current().pid() + "\n" + yarnEnv);
    System.out.println("HDFS serving: fs.defaultFS " + defaultFs + ", WebHDFS " + webhdfs);
    System.out.flush();

    List<MiniDFSCluster.DataNodeProperties> stopped = new ArrayList<>();
    for (;;) {
      if (ownerPid > 0 && !ProcessHandle.of(ownerPid).map(ProcessHandle::isAlive).orElse(false)) {
        System.out.println("owner process " + ownerPid + " ended: shutting down");
        System.exit(0);
      }
      File[] commands = control.toFile().listFiles();
      if (commands != null) {
        for (File c : commands) {
          String cmd = c.getName();
          c.delete();
          System.out.println("command: " + cmd);
          System.out.flush();
          switch (cmd) {
            case "stop-namenode":
              cluster.shutdownNameNodes();
              break;
            case "stop-datanode":
              stopped.add(cluster.stopDataNode(0));
              break;
            case "restart-datanode":
              if (!stopped.isEmpty()) cluster.restartDataNode(stopped.remove(0), true);
              cluster.waitActive();
              break;
            case "shutdown":
              System.exit(0);
              break;
            default:
              System.out.println("unknown command " + cmd);
          }
          writeAtomically(dir.resolve("done-" + cmd), "");
        }
      }
      Thread.sleep(100);
    }
  }
}
