package folio.localnode;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Collections;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;

/**
 * A single OpenSearch node (2.x or 3.x) in this JVM, with the modules and the k-NN plugin loaded
 * from the classpath (the distribution would load them from its modules/ and plugins/ folders).
 *
 * Usage: LocalNode --home DIR --port HTTP_PORT [--host 127.0.0.1] [--cluster NAME]
 *        [--transport-port PORT] [--seed-hosts HOST:PORT,...] [--initial-managers NAME,...]
 *        [--plugins classpath|home] [--path-repo DIR]
 *
 * With --plugins home no plugin comes from the class path: OpenSearch loads the modules and
 * plugins installed under HOME/modules and HOME/plugins, each with its own class loader, as the
 * distribution does (scripts/opensearch_node/pom-ml.xml lays them out).
 *
 * --path-repo is where "fs" snapshot repositories may be (path.repo): scripts/opensearch-local gives
 * every node, of every version, the same folder, so a snapshot taken on one restores on another.
 *
 * Without --seed-hosts the node is a single-node cluster; with them it joins the nodes there, and
 * --initial-managers names the nodes that elect the first cluster manager of a new cluster.
 */
public final class LocalNode {

    private LocalNode() {}

    public static void main(String[] args) throws Exception {
        String home = null;
        String host = "127.0.0.1";
        String port = "9200";
        String cluster = "folio-local";
        String transportPort = null;
        String seedHosts = null;
        String initialManagers = null;
        String pluginsFrom = "classpath";
        String pathRepo = null;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--home": home = args[i + 1]; break;
                case "--host": host = args[i + 1]; break;
                case "--port": port = args[i + 1]; break;
                case "--cluster": cluster = args[i + 1]; break;
                case "--transport-port": transportPort = args[i + 1]; break;
                case "--seed-hosts": seedHosts = args[i + 1]; break;
                case "--initial-managers": initialManagers = args[i + 1]; break;
                case "--plugins": pluginsFrom = args[i + 1]; break;
                case "--path-repo": pathRepo = args[i + 1]; break;
                default: throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (home == null) {
            throw new IllegalArgumentException("--home DIR is required");
        }
        Path homePath = Paths.get(home).toAbsolutePath();
        Files.createDirectories(homePath.resolve("config"));

        Settings.Builder builder = Settings.builder()
            .put("path.home", homePath.toString())
            .put("path.data", homePath.resolve("data").toString())
            .put("path.logs", homePath.resolve("logs").toString())
            .put("cluster.name", cluster)
            .put("node.name", cluster + "-" + port)
            .put("network.host", host)
            .put("http.port", port)
            // A developer laptop's disk is often "full" by OpenSearch's watermarks; never go read-only.
            .put("cluster.routing.allocation.disk.threshold_enabled", false);
        if (transportPort != null) {
            // An explicit port: the default range (9300-9400) would collide with other nodes' HTTP ports.
            builder.put("transport.port", transportPort);
        }
        if (pathRepo != null) {
            builder.put("path.repo", pathRepo);
        }
        if (seedHosts == null) {
            builder.put("discovery.type", "single-node");
        } else {
            builder.putList("discovery.seed_hosts", seedHosts.split(","));
            if (initialManagers != null) {
                builder.putList("cluster.initial_cluster_manager_nodes", initialManagers.split(","));
            }
        }
        Settings settings = builder.build();
        String nodeName = cluster + "-" + port;
        Environment environment =
            InternalSettingsPreparer.prepareEnvironment(settings, Collections.emptyMap(), null, () -> nodeName);

        if (!pluginsFrom.equals("classpath") && !pluginsFrom.equals("home")) {
            throw new IllegalArgumentException("--plugins must be classpath or home, not " + pluginsFrom);
        }
        // PluginNode is the code that differs between OpenSearch 2.x and 3.x (src/opensearch-N).
        Node node = PluginNode.create(environment, pluginsFrom.equals("classpath"));
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }, "folio-node-shutdown"));
        node.start();
        System.out.println("folio-local-node started on http://" + host + ":" + port);
        stopped.await();
    }
}
