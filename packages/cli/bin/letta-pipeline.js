#!/usr/bin/env node
// launcher committed so that pnpm can link the bin before the first build
import "../dist/main.js"
