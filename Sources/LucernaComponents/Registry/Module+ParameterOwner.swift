import LucernaCore
import LucernaNN

extension Module: ParameterOwner {}
