import CLua
import Foundation
import LucernaComponents
import LucernaCore
import LucernaNN

extension LuaKindBinding {
    static let model = LuaKindBinding(
        kind: .model, className: "Module", methods: [["forward"]],
        contract: "`forward(self, x)` → tensor; optional `example(self)` → an input batch for `lucerna check`",
        adapter: { $0.module })
}
