--[[ 04_write_a_plugin.lua: a component written in Lua, registered and used like a built-in.
The same table saved as Plugins/fusions/max.lua would load at start-up for every recipe, and
`lucerna check Plugins/fusions/max.lua` would run the conformance checks on it. Here the recipe registers
it itself with lucerna.register, then trains it: its parameters are created with self:module(...), so
the optimizer trains them and checkpoints save them. ]]

lucerna.register{
   kind = "fusion",
   name = "max",
   description = "project each modality to dim, then take the elementwise maximum",
   reference = "max-pooling fusion, e.g. Baltrušaitis et al., 2019",
   defaults = {input_dims = {8, 8}, dim = 8},
   init = function(self, opts)
      for i, size in ipairs(opts.input_dims) do self:module("project" .. i, nn.Linear(size, opts.dim)) end
   end,
   forward = function(self, inputs)
      local fused = self.project1(inputs[1])
      for i = 2, #inputs do fused = fused:maximum(self["project" .. i](inputs[i])) end
      return fused
   end,
}

lucerna.manual_seed(1)
local fusion = fusions.max{input_dims = {3, 5}, dim = 4}
print(fusion, "with parameters:")
for name, p in pairs(fusion:named_parameters()) do print("", name, table.concat(p:shape(), "x")) end

-- Fit y = sum of both inputs through the fusion and a linear read-out.
local a, b = tensor.randn{64, 3}, tensor.randn{64, 5}
local target = a:sum(2, true) + b:sum(2, true)
local head = nn.Linear(4, 1)
local params = fusion:parameters()
for _, p in ipairs(head:parameters()) do params[#params + 1] = p end
local opt = optim.adam{params = params, lr = 0.05}
local first
for step = 1, 200 do
   opt:zero_grad()
   local loss = losses.mse(head(fusion{a, b}), target)
   loss:backward()
   opt:step()
   first = first or loss:item()
   if step % 50 == 0 then run.log{step = step, loss = loss:item()} end
end
local final = losses.mse(head(fusion{a, b}), target):item()
print(("mse %.4f -> %.4f"):format(first, final))
run.save("max_fusion", fusion)
