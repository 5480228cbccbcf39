package folio.localnode;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import org.opensearch.Version;
import org.opensearch.cluster.service.ClusterService;
import org.opensearch.env.Environment;
import org.opensearch.node.Node;
import org.opensearch.plugins.PluginInfo;

/** The node on OpenSearch 3.x, whose Node takes classpath plugins as descriptors (PluginInfo). */
final class PluginNode extends Node {

    /** Plugins a stock 3.x node would load that Folio needs, by the names the distribution gives
     * them (as _cat/plugins shows them): HTTP, analyzers, mappers, scripting,
     * reindex/delete-by-query, k-NN. 3.x renamed the modules' plugin classes. */
    private static final String[][] PLUGINS = {
        {"transport-netty4", "org.opensearch.transport.Netty4ModulePlugin"},
        {"analysis-common", "org.opensearch.analysis.common.CommonAnalysisModulePlugin"},
        {"mapper-extras", "org.opensearch.index.mapper.MapperExtrasModulePlugin"},
        {"lang-painless", "org.opensearch.painless.PainlessModulePlugin"},
        {"reindex", "org.opensearch.index.reindex.ReindexModulePlugin"},
        {"opensearch-knn", "org.opensearch.knn.plugin.KNNPlugin"},
    };

    /** Node exposes the constructor that accepts classpath plugins only to subclasses. */
    private PluginNode(Environment environment, List<PluginInfo> plugins) {
        super(environment, plugins, true);
    }

    /** The stock listener feeds a log4j converter only the distribution's logging set-up registers. */
    @Override
    protected void configureNodeAndClusterIdStateListener(ClusterService clusterService) {}

    /** A node with Folio's plugins from the class path, or (classpathPlugins false) none of them:
     * OpenSearch then loads what is installed under HOME/modules and HOME/plugins. */
    static Node create(Environment environment, boolean classpathPlugins) throws ClassNotFoundException {
        List<PluginInfo> plugins = new ArrayList<>();
        if (classpathPlugins) {
            for (String[] plugin : PLUGINS) {
                Class.forName(plugin[1]);  // a missing jar fails here, naming the class
                // No extended plugins: on the class path every plugin already sees every other.
                plugins.add(new PluginInfo(plugin[0], "classpath plugin", "NA", Version.CURRENT, "21",
                    plugin[1], null, Collections.emptyList(), false));
            }
        }
        return new PluginNode(environment, plugins);
    }
}
