import CLua
import Foundation
import LucernaComponents
import LucernaCore
import LucernaNN

extension LuaKindBinding {
    /// Composites cannot be plugins: a recipe builds one with `composites.layer_map{...}`.
    static let composite = LuaKindBinding(
        kind: .composite, className: "Composite", methods: [],
        contract: "not a Lua plugin kind: build one in a recipe with `composites.layer_map{...}`", adapter: nil)
}
