--[[ worst_group.lua: the worst group's loss, the minimax objective group DRO optimises.
ARGS   none (groups come from the training data's `groups` tensor)
RETURN loss(self, losses, ctx) = max over the groups present in the batch of the group's mean loss; the
       epoch values log how often each group was the worst.
Reference: Sagawa, Koh, Hashimoto & Liang, "Distributionally Robust Neural Networks for Group Shifts",
ICLR 2020, eq. (2) (the objective; the registered group_dro is their online algorithm for it). ]]
return {
   kind = "method",
   name = "worst_group",
   description = "the largest mean loss over the batch's groups (group DRO's minimax objective, optimised directly)",
   reference = "Sagawa, Koh, Hashimoto & Liang, Distributionally Robust Neural Networks for Group Shifts, 2020",
   defaults = {},
   options = {},

   requirements = function(self) return {fields = {"groups"}} end,

   prepare = function(self, data)
      self.groups = data.groups:float():max():item() + 1
      self.worst = {}
   end,

   loss = function(self, losses, ctx)
      local worst, worst_value, worst_group
      for group = 0, (self.groups or ctx.groups:float():max():item() + 1) - 1 do
         local members = ctx.groups:eq(group):type_as(losses)
         local count = members:sum():item()
         if count > 0 then
            local mean = (losses * members):sum() / count
            if worst == nil or mean:item() > worst_value then
               worst, worst_value, worst_group = mean, mean:item(), group
            end
         end
      end
      self.worst = self.worst or {}
      local key = "worst_count_" .. worst_group
      self.worst[key] = (self.worst[key] or 0) + 1
      return worst
   end,

   epoch_values = function(self)
      local values = self.worst or {}
      self.worst = {}
      return values
   end,
}
