import Foundation
import LucernaLua
import LucernaRun
import LucernaTestSupport
import XCTest

/// Bad recipes give one clear error with the recipe's file:line (and a traceback for runtime errors);
/// none crashes the process. The command-line tests check their exit codes.
final class BadRecipeTests: XCTestCase {
    /// (recipe, expected message fragment, line of the error).
    static let cases: [(source: String, expected: String, line: Int)] = [
        // Syntax.
        ("x = = 1", "unexpected symbol near '='", 1),
        ("for i = 1, 3 do\nprint(i)\n", "'end' expected", 3),
        ("local s = \"unterminated\n", "unfinished string", 1),
        // Wrong types.
        ("tensor.zeros('x')", "argument 1 must be a table of integers, got string", 1),
        ("tensor.zeros{2.5}", "must be an integer", 1),
        ("tensor{{1, 2}, {3}}", "ragged nested table", 1),
        ("tensor{{1, 2}, 3}", "ragged nested table", 1),
        ("tensor{'a'}", "element 1 is a string", 1),
        ("no_grad(42)", "argument 1 must be a function", 1),
        ("local m = nn.Linear(2, 3)\nm.forward(tensor.ones{1, 2})", "argument 1 must be a module", 2),
        ("nn.Linear('two', 3)", "argument 1 must be a number, got string", 1),
        ("optim.adamw{params = {1, 2}}", "option params[1] must be a tensor, got number", 1),
        ("fusions.concat{input_dims = 'wide'}", "option input_dims must be a list of integers, got string", 1),
        ("run.log{loss = tensor.ones{1}}", "field loss must be a number, string or boolean, got tensor [1]", 1),
        // Wrong shapes.
        ("local a = tensor.ones{2, 2}\nlocal b = a:matmul(tensor.ones{3, 1})", "matmul: [2, 2] x [3, 1]", 2),
        ("local c = tensor.zeros{2, 3} + tensor.zeros{4}", "add: shapes [2, 3] and [4] do not broadcast", 1),
        ("tensor.ones{2}:reshape{3}", "cannot become", 1),
        (
            "local m = nn.Linear(2, 3)\nlocal y = m(tensor.ones{1, 5})",
            "Linear: input [1, 5] does not end in 2 features", 2
        ),
        (
            "local f = fusions.concat{input_dims = {2, 3}}\n\nf{tensor.ones{4, 2}, tensor.ones{4, 4}}",
            "input 2 must be [N, 3]", 3
        ),
        ("losses.cross_entropy(tensor.ones{2, 3}, tensor{0, 7}:long())", "out of range", 1),
        ("tensor.ones{2}:sum(0)", "dimension 0 is out of range for a tensor of rank 1", 1),
        // Once silent wrong answers (issue 22): each is an error now, in the user's 1-based numbering.
        ("losses.cross_entropy(tensor.ones{2, 3}, tensor{0.9, 1.9})", "targets must be int64 class indices", 1),
        (
            "local y = tensor.ones{3}:requires_grad():sum()\ny:backward(tensor.ones{5})",
            "seed shape [5] differs from output shape []", 2
        ),
        ("tensor.ones{2}:sum(7)", "dimension 7 is out of range for a tensor of rank 1", 1),
        (
            "local path = run.dir .. '/double.safetensors'\nlucerna.save_tensors(path, {weight = tensor.zeros{2, 2}:double(), bias = tensor.zeros{2}:double()})\nnn.Linear(2, 2):load(path)",
            "weight: checkpoint dtype float64 differs from model dtype float32", 3
        ),
        ("tensor.ones{2, 3}:transpose(1, 3)", "dimension 3 is out of range for a tensor of rank 2", 1),
        ("tensor.ones{2, 3}:index_select(1, tensor{3}:long())", "index 3 is out of range for dimension 1 of size 2", 1),
        ("tensor.ones{2}:sum(1, false, 'extra')", "but argument 4 (string) was given", 1),
        ("tensor.zeros({2}, {3})", "takes 1 argument, but argument 2 (table) was given", 1),
        (
            "train{model = nn.Linear(2, 2), data = {inputs = tensor.randn{8, 2}, labels = tensor.zeros{4}:long()},\n  validation = 0.25}",
            "data's tensors differ in length: inputs has 8, labels has 4 samples", 1
        ),
        ("tensor.ones{2}:sum(5)", "out of range", 1),
        ("tensor.ones{2}:item()", "has 2 elements, not 1", 1),
        ("tensor.zeros{1e12, 1e12}", "too many elements", 1),
        // Unknown components and options.
        ("fusions.conact{}", "unknown fusion 'conact'; did you mean 'concat'?", 1),
        ("local s = schedules{type = 'cosin'}", "unknown schedule 'cosin'; did you mean 'cosine'?", 1),
        ("optim.adamw{params = {}, learning_rate = 1}", "unknown option 'learning_rate'", 1),
        ("nn.Conv2d(1, 4, 3, {paddin = 1})", "unknown option 'paddin'; accepted: stride, padding, dilation, bias", 1),
        ("metrics.accuracy{topk = 2}", "unknown option 'topk'; did you mean 'top_k'?", 1),
        ("lucerna.build('fusions', {type = 'sum', dim = 0})", "option dim must be positive", 1),
        ("lucerna.build('gadget', {})", "unknown kind 'gadget'", 1),
        ("schedules.cosine{optimizer = 3, t_max = 2}", "option optimizer must be an optimizer", 1),
        ("data.fashion_mnist{split = 'validation'}", "split must be one of train, test", 1),
        ("models.cnn{channels = {32}}", "option channels must be an integer or a pair", 1),
        // Errors inside plugins.
        (
            "lucerna.register{kind = 'fusion', name = 'broken', description = 'd', forward = function(self, inputs)\nreturn inputs[1] + inputs[3]\nend}\nfusions.broken{}{tensor.ones{1, 2}}",
            "argument 2 must be a number, got nil", 2
        ),
        (
            "lucerna.register{kind = 'regularizer', name = 'wrong', description = 'd', penalty = function() return tensor.ones{2} end}\nregularizers.wrong{}:penalty{}",
            "penalty must return a scalar tensor, got [2]", 2
        ),
        (
            "lucerna.register{kind = 'metric', name = 'm', description = 'd', update = function() end, compute = function() return 'high' end}\nmetrics.m{}:compute()",
            "compute must return a number, got string", 2
        ),
        // Errors inside callbacks.
        ("no_grad(function() error('inside the callback') end)", "inside the callback", 1),
        (
            "local ok = pcall(function() end)\nno_grad(function()\n  local x = tensor.ones{2} + tensor.ones{3}\nend)",
            "do not broadcast", 3
        ),
        ("grad(tensor.ones{1}, tensor.ones{1})", "does not require a gradient", 1),
        ("tensor.ones{2}:backward()", "does not require a gradient", 1),
        // Misuse of the engine objects.
        ("tensor.ones{1}.matmul(3, 4)", "needs a tensor operand", 1),
        ("local t = tensor.ones{2}; getmetatable(t).__gc(t)", "attempt to call a nil value", 1),
        ("local opt = optim.sgd{params = {}}\nopt.step()", "argument 1 must be an optimizer", 2),
        ("run.save('../escape', nn.Linear(1, 1))", "checkpoint name '../escape'", 1),
        // train{}.
        ("train(nn.Linear(2, 2))", "expected one table: train{model", 1),
        (
            "local s = data.blobs{}\ntrain{model = nn.Linear(2, 3), data = s, epoch = 2}",
            "unknown option 'epoch'; did you mean 'epochs'?", 2
        ),
        ("train{model = nn.Linear(2, 3), data = 'mnist'}", "data must be a data set", 1),
        ("train{model = 3, data = data.blobs{}}", "model must be a module", 1),
        ("train{model = {a = nn.Linear(2, 3)}, data = data.blobs{}}", "a table of modules needs forward", 1),
        (
            "train{model = nn.Linear(2, 3), data = data.blobs{}, early_stopping = {metric = 'val_f1', patiense = 2}}",
            "unknown option 'patiense'; did you mean 'patience'?", 1
        ),
        (
            "train{model = nn.Linear(2, 3), data = data.blobs{}, early_stopping = {metric = 'val_f1', mode = 'up'}}",
            "mode must be \"min\" or \"max\"", 1
        ),
        (
            "train{model = nn.Linear(2, 3), data = data.blobs{}, epochs = 1, verbose = false, early_stopping = {metric = 'val_f2'}}",
            "early stopping watches 'val_f2'", 1
        ),
        (
            "train{model = nn.Linear(2, 3), data = data.blobs{}, validation = 1.5}",
            "validation must be a fraction in [0, 1)", 1
        ),
        (
            "train{model = nn.Linear(2, 3), data = data.blobs{}, optimizer = {type = 'adamx'}}",
            "unknown optimizer 'adamx'", 1
        ),
        (
            "train{model = nn.Linear(2, 3), data = data.blobs{}, metrics = {acc = 'accuracyy'}}",
            "unknown metric 'accuracyy'", 1
        ),
        (
            "train{model = nn.Linear(2, 3), data = data.blobs{}, callbacks = {on_epoch = print}}",
            "unknown callback 'on_epoch'; accepted: on_step_end, on_epoch_end", 1
        ),
        (
            "train{model = nn.Linear(2, 3), data = data.blobs{}, regularizers = {{type = 'l2', weight = 'big'}}}",
            "regularizers.l2: option weight must be a number, got string", 1
        ),
        (
            "train{model = nn.Linear(2, 3), data = data.blobs{}, regularizers = {{regularizer = regularizers.l2{}, weight = 'big'}}}",
            "regularizers[1].weight must be a number", 1
        ),
        (
            "train{model = nn.Linear(2, 3), data = data.blobs{}, regularizers = {'rrr'}}",
            "regularizer rrr needs 'artifact_masks', which the training data lacks", 1
        ),
        (
            "train{model = nn.Linear(2, 3), data = data.blobs{}, regularizers = {{type = 'irm', anneal_steps = -1}}}",
            "anneal_steps must be ≥ 0", 1
        ),
        (
            "train{model = nn.Linear(5, 3), data = data.blobs{}, verbose = false}",
            "Linear: input [64, 2] does not end in 5 features", 1
        ),
        (
            "train{model = nn.Linear(2, 3), data = data.blobs{}, epochs = 1, verbose = false,\n  terms = function(batch, logits) return {bad = logits} end}",
            "loss term bad must be a scalar", 1
        ),
        (
            "train{model = nn.Linear(2, 3), data = data.blobs{}, epochs = 1, verbose = false,\n  callbacks = {on_step_end = function(info) error('stop here') end}}",
            "bad.lua:2: stop here", 1
        ),
    ]

    func testBadRecipesGiveClearErrorsWithTheirLine() throws {
        XCTAssertGreaterThanOrEqual(Self.cases.count, 30)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bad-recipes-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for item in Self.cases {
            let lua = try LuaState(run: RunContext(directory: folder, recipe: "bad.lua", seed: 0, threads: 1))
            try lua.loadPlugins(from: [Fixture.repositoryRoot.appendingPathComponent("Plugins").path])
            XCTAssertThrowsError(try lua.run(source: item.source, name: "bad.lua"), item.source) { error in
                let message = "\(error)"
                XCTAssert(message.contains(item.expected), "\(item.source)\n-> \(message)")
                XCTAssert(
                    message.contains("bad.lua:\(item.line):"),
                    "\(item.source)\n-> no bad.lua:\(item.line): in \(message)")
            }
        }
    }
}
