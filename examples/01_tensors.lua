--[[ 01_tensors.lua: tensors and autograd from Lua.
Run: .build/release/lucerna run examples/01_tensors.lua
Dimensions and indices are 1-based, as in Torch7 and Lua tables; negative ones count from the end. ]]

lucerna.manual_seed(1)

local x = tensor{{1, 2}, {3, 4}}:requires_grad()
local y = (x * x + 1):sum()
y:backward()
print("y =", y:item())                 -- 34
print("dy/dx =", x:grad())             -- 2x

-- Gradients of gradients: d²/dx² Σ x³ = 6x.
local g = grad((x ^ 3):sum(), x, {create_graph = true})
print("second derivative =", grad(g:sum(), x))

-- Operations run without recording inside no_grad.
local doubled = no_grad(function() return x * 2 end)
print("x * 2 without recording:", doubled)

-- Softmax over the last dimension, matmul, reductions over a 1-based dimension.
local logits = tensor.randn{3, 4}
print("softmax rows sum to", logits:softmax(-1):sum(2))
print("argmax per row", logits:argmax(2))
print("matmul shape", table.concat(tensor.ones{3, 4}:matmul(tensor.ones{4, 2}):shape(), "x"))
