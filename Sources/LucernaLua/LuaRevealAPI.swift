import CLua
import LucernaComponents
import LucernaCore

/// The steps of Reveal-to-Revise as Lua functions in the `reveal` table: `reveal.spray{...}`.
enum LuaRevealAPI {
    static let sprayOptions =
        [
            OptionSpec("heatmaps", .tensor, required: true, "explanations [N, H, W] or [N, C, H, W] of one class"),
            OptionSpec(
                "clusterings", .any, default: .string("kmeans"),
                "a clustering (instance, name or spec) or a table name -> clustering; each runs on the embedding"),
        ] + SpectralRelevanceAnalysis.options

    static func install(in lua: LuaState) {
        let state = lua.state
        lucerna_newtable(state)
        // reveal.spray{heatmaps = maps, clusterings = {kmeans = clusterings.kmeans{clusters = 4}}, neighbours = 32,
        // components = 32, size = 16}: the embedding, each clustering's labels and its clusters ranked.
        lua.setFunction("spray") { [unowned lua] call in
            call.reads(upTo: 1)
            let owner = "reveal.spray"
            let config = try Config(
                owner: owner, options: call.options(1, path: owner), specs: sprayOptions, registry: lua.registry)
            let analysis = try SpectralRelevanceAnalysis(config: config)
            var clusterings: [(name: String, clustering: Clustering)] = []
            switch config.value("clusterings") {
            case .table(let named) where !named.keys.contains("type"):
                for name in named.keys.sorted() {
                    clusterings.append(
                        (
                            name,
                            try lua.registry.build(
                                .clustering, from: named[name]!, context: "\(owner): clusterings.\(name)")
                        ))
                }
            case let single:
                let clustering = try lua.registry.build(.clustering, from: single, context: "\(owner): clusterings")
                let name = if case .string(let name) = single { name } else { "clustering" }
                clusterings.append((name, clustering))
            }
            let result = try analysis.analyze(try config.tensor("heatmaps"), clusterings: clusterings)
            LuaConfigValue.push(try table(result), in: call.state)
            return 1
        }
        installLocalisation(in: lua)
        lua_setglobal(state, "reveal")
        LuaRevealLoop.install(in: lua)
    }

    /// The result as Lua sees it; sample indices are 0-based, as tensor indices are.
    static func table(_ result: SpectralRelevanceAnalysis.Result) throws -> ConfigValue {
        let embedding = result.embedding
        let samples = result.samples
        let width = embedding.components
        let view = (0..<samples).flatMap { sample in
            (1...2).map { axis in axis < width ? embedding.coordinates[sample * width + axis] : 0 }
        }
        var labels: [String: ConfigValue] = [:]
        var rankings: [String: ConfigValue] = [:]
        for (name, found) in result.labels { labels[name] = .tensor(try Tensor(shape: [samples], integers: found)) }
        for (name, clusters) in result.rankings {
            rankings[name] = .list(
                try clusters.map { cluster in
                    .table([
                        "cluster": .number(Double(cluster.label)), "size": .number(Double(cluster.members.count)),
                        "share": .number(cluster.share), "distance": .number(cluster.distance),
                        "concentration": .number(cluster.concentration), "score": .number(cluster.score),
                        "similarity": .number(cluster.similarity),
                        "members": .tensor(try Tensor(shape: [cluster.members.count], integers: cluster.members)),
                    ])
                })
        }
        return .table([
            "eigenvalues": .tensor(try Tensor(shape: [width], doubles: embedding.eigenvalues)),
            "embedding": .tensor(try Tensor(shape: [samples, width], doubles: embedding.coordinates)),
            "coordinates": .tensor(try Tensor(shape: [samples, 2], doubles: view)),
            "maps": .tensor(try Tensor(shape: [samples, result.height, result.width], doubles: result.maps)),
            "labels": .table(labels), "ranking": .table(rankings),
            "cluster_components": .number(Double(result.clusterComponents)),
        ])
    }
}
