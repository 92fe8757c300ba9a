// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "./utils/TestBase.sol";
import {ConstantProductPool} from "../src/ConstantProductPool.sol";
import {TestToken} from "../src/TestToken.sol";

/// @notice Random swaps in both directions and deposits; records the largest k seen and
/// whether any swap paid something other than its quote.
contract PoolHandler is TestBase {
    ConstantProductPool public immutable pool;
    TestToken public immutable token0;
    TestToken public immutable token1;
    address internal constant TRADER = address(0x7EAD);

    uint256 public maxK;
    uint256 public violations;
    string public lastViolation;

    constructor() {
        token0 = new TestToken("USD Coin", "USDC", 6);
        token1 = new TestToken("Wrapped Ether", "WETH", 18);
        pool = new ConstantProductPool(address(token0), address(token1), 30);
        _deposit(2_000_000e6, 1_000e18);
        maxK = k();
    }

    function k() public view returns (uint256) {
        (uint256 r0, uint256 r1) = pool.getReserves();
        return r0 * r1;
    }

    function swap(uint256 amountIn, bool zeroForOne) external {
        TestToken tokenIn = zeroForOne ? token0 : token1;
        (uint256 r0, uint256 r1) = pool.getReserves();
        amountIn = bound(amountIn, 1, (zeroForOne ? r0 : r1) * 3);
        uint256 quote = pool.getAmountOut(amountIn, address(tokenIn));
        if (quote == 0) return;
        uint256 before = k();
        tokenIn.mint(TRADER, amountIn);
        vm.startPrank(TRADER);
        tokenIn.approve(address(pool), amountIn);
        try pool.swap(address(tokenIn), amountIn, quote, TRADER, block.timestamp) returns (uint256 out) {
            if (out != quote) _violation("swap paid other than its quote");
        } catch {
            _violation("swap at the quoted minimum reverted");
        }
        vm.stopPrank();
        if (k() < before) _violation("swap decreased k");
        _observe();
    }

    function deposit(uint256 amount0, uint256 amount1) external {
        (uint256 r0, uint256 r1) = pool.getReserves();
        amount0 = bound(amount0, 1, r0);
        amount1 = bound(amount1, 1, r1);
        if (amount0 * pool.totalLiquidity() / r0 == 0 || amount1 * pool.totalLiquidity() / r1 == 0) return;
        _deposit(amount0, amount1);
        _observe();
    }

    function _deposit(uint256 amount0, uint256 amount1) internal {
        token0.mint(address(this), amount0);
        token1.mint(address(this), amount1);
        token0.approve(address(pool), amount0);
        token1.approve(address(pool), amount1);
        pool.addLiquidity(amount0, amount1, address(this));
    }

    function _observe() internal {
        uint256 now_ = k();
        if (now_ < maxK) _violation("k fell below an earlier value");
        else maxK = now_;
    }

    function _violation(string memory what) internal {
        violations += 1;
        lastViolation = what;
    }
}

contract ConstantProductPoolInvariantTest is TestBase {
    PoolHandler internal handler;

    function setUp() public {
        handler = new PoolHandler();
        targetContract(address(handler));
    }

    function invariant_KNeverDecreases() public view {
        assertGe(handler.k(), handler.maxK(), "k below its maximum");
        assertEq(handler.violations(), 0, handler.lastViolation());
    }

    function invariant_ReservesEqualBalances() public view {
        ConstantProductPool pool = handler.pool();
        (uint256 r0, uint256 r1) = pool.getReserves();
        assertEq(handler.token0().balanceOf(address(pool)), r0, "reserve0 != balance");
        assertEq(handler.token1().balanceOf(address(pool)), r1, "reserve1 != balance");
    }
}
