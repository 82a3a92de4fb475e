// A real single-machine HDFS for tests and for trying TorchOnSpark: a namenode (or two, as an
// HA nameservice) and a datanode from Apache Hadoop's own MiniDFSCluster, WebHDFS on, bound to
// one address. Run by scripts/hdfs_cluster.sh with the classpath Maven resolves from pom.xml:
//
//   java -cp CLASSPATH HdfsCluster.java DIR [--ha] [--address A] [--owner-pid PID]
//
// It writes DIR/conf/{core-site,hdfs-site}.xml (a HADOOP_CONF_DIR for clients) and, once the
// cluster serves, DIR/cluster.env (DEFAULT_FS, WEBHDFS, HADOOP_CONF_DIR, PID). It then runs
// the commands dropped as files into DIR/control/ (stop-namenode, stop-datanode,
// restart-datanode, shutdown) and exits on `shutdown`, on SIGTERM, or when --owner-pid ends.
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

  public static void main(String[] args) throws Exception {
    if (args.length < 1) {
      System.err.println("usage: HdfsCluster DIR [--ha] [--address A] [--owner-pid PID]");
      System.exit(2);
    }
    Path dir = new File(args[0]).getAbsoluteFile().toPath();
    boolean ha = false;
    String address = "127.0.0.1";
    long ownerPid = -1;
    for (int i = 1; i < args.length; ++i) {
      if (args[i].equals("--ha")) ha = true;
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
    conf.set("dfs.namenode.rpc-bind-host", address);
    conf.set("dfs.namenode.http-bind-host", address);
    conf.set("dfs.datanode.address", address + ":0");
    conf.set("dfs.datanode.http.address", address + ":0");
    conf.set("dfs.datanode.ipc.address", address + ":0");
    conf.set("dfs.datanode.hostname", address);
    conf.setInt("dfs.replication", 1);
    // Small blocks, so that test files span several of them.
    conf.setLong("dfs.namenode.fs-limits.min-block-size", 1024 * 1024);
    conf.setLong("dfs.blocksize", 8L * 1024 * 1024);

    MiniDFSCluster.Builder builder = new MiniDFSCluster.Builder(conf).numDataNodes(1);
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
    hdfs.put("dfs.webhdfs.enabled", "true");
    core.put("fs.defaultFS", defaultFs);
    writeAtomically(confDir.resolve("core-site.xml"), siteXml(core));
    writeAtomically(confDir.resolve("hdfs-site.xml"), siteXml(hdfs));

    Runtime.getRuntime().addShutdownHook(new Thread(cluster::shutdown));
    writeAtomically(dir.resolve("cluster.env"),
                    "DEFAULT_FS=" + defaultFs + "\nWEBHDFS=" + webhdfs + "\nHADOOP_CONF_DIR=" +
                        confDir + "\nPID=" + ProcessHandle.current().pid() + "\n");
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
