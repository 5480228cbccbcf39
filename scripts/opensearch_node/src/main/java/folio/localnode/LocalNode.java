package folio.localnode;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.opensearch.cluster.service.ClusterService;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;

/**
 * A single OpenSearch node in this JVM, with the modules and the k-NN plugin loaded from the
 * classpath (the distribution would load them from its modules/ and plugins/ folders).
 *
 * Usage: LocalNode --home DIR --port HTTP_PORT [--host 127.0.0.1] [--cluster NAME]
 *        [--transport-port PORT] [--seed-hosts HOST:PORT,...] [--initial-managers NAME,...]
 *        [--plugins classpath|home]
 *
 * With --plugins home no plugin comes from the class path: OpenSearch loads the modules and
 * plugins installed under HOME/modules and HOME/plugins, each with its own class loader, as the
 * distribution does (scripts/opensearch_node/pom-ml.xml lays them out).
 *
 * Without --seed-hosts the node is a single-node cluster; with them it joins the nodes there, and
 * --initial-managers names the nodes that elect the first cluster manager of a new cluster.
 */
public final class LocalNode {

    /** Plugins a stock 2.19 node would load that Folio needs: HTTP, analyzers, mappers, scripting,
     * reindex/delete-by-query, k-NN. */
    private static final String[] PLUGIN_CLASSES = {
        "org.opensearch.transport.Netty4Plugin",
        "org.opensearch.analysis.common.CommonAnalysisPlugin",
        "org.opensearch.index.mapper.MapperExtrasPlugin",
        "org.opensearch.painless.PainlessPlugin",
        "org.opensearch.index.reindex.ReindexPlugin",
        "org.opensearch.knn.plugin.KNNPlugin",
    };

    /** Node exposes the constructor that accepts classpath plugins only to subclasses. */
    private static final class ClasspathPluginNode extends Node {
        ClasspathPluginNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
            super(environment, plugins, true);
        }

        /** The stock listener feeds a log4j converter only the distribution's logging set-up registers. */
        @Override
        protected void configureNodeAndClusterIdStateListener(ClusterService clusterService) {}
    }

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

        List<Class<? extends Plugin>> plugins = new ArrayList<>();
        if (pluginsFrom.equals("classpath")) {
            for (String name : PLUGIN_CLASSES) {
                plugins.add(Class.forName(name).asSubclass(Plugin.class));
            }
        } else if (!pluginsFrom.equals("home")) {
            throw new IllegalArgumentException("--plugins must be classpath or home, not " + pluginsFrom);
        }

        Node node = new ClasspathPluginNode(environment, plugins);
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
