import LucernaCore

/// The names of a data set's classes, by label, in its `class_names` metadata: reports label confusion
/// matrices and per-class tables with them.
public enum ClassNames {
    /// MNIST's, the spoken digits' and multimodal MNIST's: "0" to "9".
    public static let digits = (0..<10).map(String.init)

    /// `["class_names": [...]]`.
    public static func metadata(_ names: [String]) -> [String: ConfigValue] {
        ["class_names": .list(names.map(ConfigValue.string))]
    }

    /// The names in `metadata`, if it has a list of strings under `class_names`.
    public static func names(in metadata: [String: ConfigValue]) -> [String]? {
        guard case .list(let items)? = metadata["class_names"] else { return nil }
        let names = items.compactMap { item -> String? in if case .string(let name) = item { name } else { nil } }
        return names.count == items.count ? names : nil
    }
}
