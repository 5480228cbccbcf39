package folio.localnode;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

import org.opensearch.cluster.service.ClusterService;
import org.opensearch.env.Environment;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;

/** The node on OpenSearch 2.x, whose Node takes classpath plugins as classes. */
final class PluginNode extends Node {

    /** Plugins a stock 2.x node would load that Folio needs: HTTP, analyzers, mappers, scripting,
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
    private PluginNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
        super(environment, plugins, true);
    }

    /** The stock listener feeds a log4j converter only the distribution's logging set-up registers. */
    @Override
    protected void configureNodeAndClusterIdStateListener(ClusterService clusterService) {}

    /** A node with Folio's plugins from the class path, or (classpathPlugins false) none of them:
     * OpenSearch then loads what is installed under HOME/modules and HOME/plugins. */
    static Node create(Environment environment, boolean classpathPlugins) throws ClassNotFoundException {
        List<Class<? extends Plugin>> plugins = new ArrayList<>();
        if (classpathPlugins) {
            for (String name : PLUGIN_CLASSES) {
                plugins.add(Class.forName(name).asSubclass(Plugin.class));
            }
        }
        return new PluginNode(environment, plugins);
    }
}
